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
            CnnOptimizer.Adam => optim.Adam(groups.Select(g => new Adam.ParamGroup(g.Parameters, lr: lr, weight_decay: g.WeightDecay)), lr, weight_decay: decay),
            CnnOptimizer.AdamW => optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.Parameters, lr: lr, weight_decay: g.WeightDecay)), lr, weight_decay: decay),
            CnnOptimizer.Sgd => optim.SGD(groups.Select(g => new SGD.ParamGroup(g.Parameters, lr: lr, momentum: options.Momentum, weight_decay: g.WeightDecay, nesterov: options.Nesterov)),
                lr, momentum: options.Momentum, weight_decay: decay, nesterov: options.Nesterov),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Optimizer, "Unknown optimizer."),
        };
    }

    public static OptimizerHelper Create(IEnumerable<Parameter> parameters, CnnTrainerOptions options) => options.Optimizer switch
    {
        CnnOptimizer.Adam => optim.Adam(parameters, options.LearningRate, weight_decay: options.WeightDecay),
        CnnOptimizer.AdamW => optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay),
        CnnOptimizer.Sgd => optim.SGD(parameters, options.LearningRate, momentum: options.Momentum, weight_decay: options.WeightDecay, nesterov: options.Nesterov),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Optimizer, "Unknown optimizer."),
    };
}
