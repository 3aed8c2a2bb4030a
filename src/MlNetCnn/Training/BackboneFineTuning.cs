using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Fine-tuning from pretrained weights: the classifier head (the last layer with parameters) trains from the start;
/// the backbone (everything else) is frozen for <see cref="CnnTrainerOptions.FreezeBackboneEpochs"/>, with its batch
/// norms in evaluation mode so their statistics stay the pretrained ones, and then trains at
/// <see cref="CnnTrainerOptions.BackboneLearningRateFactor"/> times the head's learning rate (its own optimizer parameter
/// group), except its first <see cref="CnnTrainerOptions.FrozenBackboneFraction"/> of layers, frozen for the whole run.
/// </summary>
internal sealed class BackboneFineTuning
{
    private readonly nn.Module _model;
    private readonly List<nn.Module> _alwaysFrozenLayers;
    private readonly List<Parameter> _alwaysFrozen;
    private readonly int _frozenEpochs;
    private readonly double _factor;

    private BackboneFineTuning(nn.Module model, List<Parameter> backbone, List<Parameter> head, List<nn.Module> alwaysFrozenLayers,
        List<Parameter> alwaysFrozen, int frozenEpochs, double factor)
    {
        _model = model;
        Backbone = backbone;
        Head = head;
        _alwaysFrozenLayers = alwaysFrozenLayers;
        _alwaysFrozen = alwaysFrozen;
        _frozenEpochs = frozenEpochs;
        _factor = factor;
    }

    /// <summary>The optimizer's first parameter group: the backbone's parameters that train once it is unfrozen.</summary>
    public IReadOnlyList<Parameter> Backbone { get; }

    /// <summary>The optimizer's second parameter group.</summary>
    public IReadOnlyList<Parameter> Head { get; }

    /// <summary>The split for a run that starts from <see cref="CnnTrainerOptions.InitialWeights"/>, else null (one parameter group).</summary>
    public static BackboneFineTuning? Create(nn.Module model, CnnTrainerOptions options)
    {
        if (options.InitialWeights is null)
            return null;
        string head = ModuleWeights.LastParameterizedLayer(model).Name;
        bool InHead(string name) => head.Length == 0 || name.StartsWith(head + ".", StringComparison.Ordinal);

        // Layers that own weights, in registration order: the order every zoo network applies them. A layer is in the
        // head when its parameters' names ("<layer>.<name>") are.
        var layers = model.named_modules()
            .Where(l => l.module.named_parameters(recurse: false).Any() && !InHead(l.name + "."))
            .ToList();
        var alwaysFrozenLayers = layers.Take((int)Math.Round(options.FrozenBackboneFraction * layers.Count, MidpointRounding.AwayFromZero)).ToList();
        var alwaysFrozenNames = alwaysFrozenLayers
            .SelectMany(l => l.module.named_parameters(recurse: false).Select(p => l.name.Length == 0 ? p.name : l.name + "." + p.name))
            .ToHashSet(StringComparer.Ordinal);

        var backbone = new List<Parameter>();
        var headParameters = new List<Parameter>();
        var alwaysFrozen = new List<Parameter>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!parameter.requires_grad)
                continue;
            if (alwaysFrozenNames.Contains(name))
            {
                // No gradient below the first trainable layer: backward stops there, which is the saving.
                parameter.requires_grad = false;
                alwaysFrozen.Add(parameter);
            }
            else
            {
                (InHead(name) ? headParameters : backbone).Add(parameter);
            }
        }
        return new BackboneFineTuning(model, backbone, headParameters, alwaysFrozenLayers.Select(l => l.module).ToList(), alwaysFrozen,
            options.FreezeBackboneEpochs, options.BackboneLearningRateFactor);
    }

    public bool IsFrozen(int epoch) => epoch <= _frozenEpochs;

    /// <summary>After <c>model.train()</c>: freezes or releases the backbone for this epoch.</summary>
    public void BeginEpoch(int epoch)
    {
        bool frozen = IsFrozen(epoch);
        // No gradients for a frozen backbone: backward then only reaches the head, which is most of the saving.
        foreach (var parameter in Backbone)
            parameter.requires_grad = !frozen;
        // Frozen layers keep the pretrained batch-norm statistics too.
        var frozenLayers = frozen ? _model.named_modules().Select(l => l.module) : _alwaysFrozenLayers;
        foreach (var layer in frozenLayers)
            if (layer is BatchNorm1d or BatchNorm2d or BatchNorm3d)
                layer.eval();
    }

    /// <summary>The learning-rate multiplier of parameter group <paramref name="group"/> (0 backbone, 1 head) in <paramref name="epoch"/>.</summary>
    public double Factor(int group, int epoch) => group == 0 ? (IsFrozen(epoch) ? 0 : _factor) : 1;

    /// <summary>Leaves every parameter trainable again (the returned network may be fine-tuned further).</summary>
    public void Release()
    {
        foreach (var parameter in Backbone.Concat(_alwaysFrozen))
            parameter.requires_grad = true;
    }
}
