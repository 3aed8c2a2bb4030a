using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>Builds the TorchSharp optimizer that <see cref="CnnTrainerOptions"/> asks for, over the trainable parameters.</summary>
internal static class OptimizerFactory
{
    /// <summary>One parameter group per list, each with its own weight decay (the training loop scales each group's learning rate).</summary>
    public static OptimizerHelper Create(IReadOnlyList<(IEnumerable<Parameter> Parameters, double WeightDecay)> groups, CnnTrainerOptions options)
    {
        double lr = options.LearningRate, decay = options.WeightDecay;
        return options.Optimizer switch
        {
            CnnOptimizer.Adam =>
                new Training.ScalarSafe.Adam(groups.Select(g =>
                    new Adam.ParamGroup(g.Parameters, lr: lr, weight_decay: g.WeightDecay)), lr, decay),
            CnnOptimizer.AdamW =>
                new Training.ScalarSafe.AdamW(groups.Select(g =>
                    new AdamW.ParamGroup(g.Parameters, lr: lr, weight_decay: g.WeightDecay)), lr, decay),
            CnnOptimizer.Sgd =>
                new Training.ScalarSafe.SGD(groups.Select(g =>
                    new SGD.ParamGroup(g.Parameters, lr: lr, momentum: options.Momentum, weight_decay: g.WeightDecay,
                        nesterov: options.Nesterov)),
                lr, options.Momentum, decay, options.Nesterov),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Optimizer, "Unknown optimizer."),
        };
    }
}
