using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// The optimizer's parameter groups: the trainable parameters as one group, or split into backbone and head when
/// fine-tuning (<see cref="BackboneFineTuning"/>), each split again into batch-norm and other parameters when
/// <see cref="CnnTrainerOptions.BatchNormLearningRateFactor"/> is not 1. Each group knows its learning-rate multiplier
/// and weight decay.
/// </summary>
internal sealed class ParameterGroups
{
    private readonly List<Group> _groups;
    private readonly BackboneFineTuning? _fineTuning;
    private readonly double _batchNormFactor;

    private ParameterGroups(List<Group> groups, BackboneFineTuning? fineTuning, double batchNormFactor)
    {
        _groups = groups;
        _fineTuning = fineTuning;
        _batchNormFactor = batchNormFactor;
    }

    private sealed record Group(List<Parameter> Parameters, bool Backbone, bool BatchNorm);

    public static ParameterGroups Create(nn.Module model, CnnTrainerOptions options, BackboneFineTuning? fineTuning)
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        var bases = fineTuning is null ? [(trainable, false)]
            : new List<(List<Parameter>, bool)> { (fineTuning.Backbone.ToList(), true),
                (fineTuning.Head.ToList(), false) };
        var groups = new List<Group>();
        if (options.BatchNormLearningRateFactor == 1)
        {
            groups.AddRange(bases.Select(b => new Group(b.Item1, b.Item2, false)));
            return new ParameterGroups(groups, fineTuning, options.BatchNormLearningRateFactor);
        }
        var normParameters = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var (_, layer) in model.named_modules())
        {
            if (layer is BatchNorm1d or BatchNorm2d or BatchNorm3d)
                normParameters.UnionWith(layer.parameters(recurse: false));
        }
        foreach (var (parameters, backbone) in bases)
        {
            groups.Add(new Group(parameters.Where(p => !normParameters.Contains(p)).ToList(), backbone, false));
            groups.Add(new Group(parameters.Where(normParameters.Contains).ToList(), backbone, true));
        }
        // An empty group would only confuse the optimizer's state; the fine-tuning split always keeps both of its groups.
        groups.RemoveAll(g => g.Parameters.Count == 0 && fineTuning is null);
        return new ParameterGroups(groups, fineTuning, options.BatchNormLearningRateFactor);
    }

    /// <summary>
    /// The optimizer over these groups, each with its weight decay: decay per step is rate × decay, so a group whose
    /// rate is multiplied has its decay divided by the same.
    /// </summary>
    public OptimizerHelper CreateOptimizer(CnnTrainerOptions options)
        => OptimizerFactory.Create(_groups.Select(g =>
            ((IEnumerable<Parameter>)g.Parameters, options.WeightDecay / RateFactor(g))).ToList(), options);

    /// <summary>The multiplier of the learning rate for group <paramref name="group"/> in <paramref name="epoch"/>.</summary>
    public double Factor(int group, int epoch)
    {
        var g = _groups[group];
        return _fineTuning is null ? RateFactor(g) : RateFactor(g) * _fineTuning.Factor(g.Backbone ? 0 : 1, epoch);
    }

    private double RateFactor(Group group) => group.BatchNorm ? _batchNormFactor : 1;
}
