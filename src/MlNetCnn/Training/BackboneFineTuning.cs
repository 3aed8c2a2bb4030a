using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Fine-tuning from pretrained weights: the classifier head (the last layer with parameters) trains from the start;
/// the backbone (everything else) is frozen for <see cref="CnnTrainerOptions.FreezeBackboneEpochs"/>, with its batch
/// norms in evaluation mode so their statistics stay the pretrained ones, and then trains at
/// <see cref="CnnTrainerOptions.BackboneLearningRateFactor"/> times the head's learning rate (its own optimizer parameter group).
/// </summary>
internal sealed class BackboneFineTuning
{
    private readonly nn.Module _model;
    private readonly int _frozenEpochs;
    private readonly double _factor;

    private BackboneFineTuning(nn.Module model, List<Parameter> backbone, List<Parameter> head, int frozenEpochs, double factor)
    {
        _model = model;
        Backbone = backbone;
        Head = head;
        _frozenEpochs = frozenEpochs;
        _factor = factor;
    }

    /// <summary>The optimizer's first parameter group.</summary>
    public IReadOnlyList<Parameter> Backbone { get; }

    /// <summary>The optimizer's second parameter group.</summary>
    public IReadOnlyList<Parameter> Head { get; }

    /// <summary>The split for a run that starts from <see cref="CnnTrainerOptions.InitialWeights"/>, else null (one parameter group).</summary>
    public static BackboneFineTuning? Create(nn.Module model, CnnTrainerOptions options)
    {
        if (options.InitialWeights is null)
            return null;
        string head = ModuleWeights.LastParameterizedLayer(model).Name;
        var backbone = new List<Parameter>();
        var headParameters = new List<Parameter>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!parameter.requires_grad)
                continue;
            (name.StartsWith(head + ".", StringComparison.Ordinal) || head.Length == 0 ? headParameters : backbone).Add(parameter);
        }
        return new BackboneFineTuning(model, backbone, headParameters, options.FreezeBackboneEpochs, options.BackboneLearningRateFactor);
    }

    public bool IsFrozen(int epoch) => epoch <= _frozenEpochs;

    /// <summary>After <c>model.train()</c>: freezes or releases the backbone for this epoch.</summary>
    public void BeginEpoch(int epoch)
    {
        bool frozen = IsFrozen(epoch);
        // No gradients for a frozen backbone: backward then only reaches the head, which is most of the saving.
        foreach (var parameter in Backbone)
            parameter.requires_grad = !frozen;
        if (!frozen)
            return;
        foreach (var (_, layer) in _model.named_modules())
            if (layer is BatchNorm1d or BatchNorm2d or BatchNorm3d)
                layer.eval();
    }

    /// <summary>The learning-rate multiplier of parameter group <paramref name="group"/> (0 backbone, 1 head) in <paramref name="epoch"/>.</summary>
    public double Factor(int group, int epoch) => group == 0 ? (IsFrozen(epoch) ? 0 : _factor) : 1;

    /// <summary>Leaves every parameter trainable again (the returned network may be fine-tuned further).</summary>
    public void Release()
    {
        foreach (var parameter in Backbone)
            parameter.requires_grad = true;
    }
}
