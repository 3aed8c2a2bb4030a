using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>Builds the TorchSharp optimizer that <see cref="CnnTrainerOptions"/> asks for, over the trainable parameters.</summary>
internal static class OptimizerFactory
{
    public static OptimizerHelper Create(IEnumerable<Parameter> parameters, CnnTrainerOptions options) => options.Optimizer switch
    {
        CnnOptimizer.Adam => optim.Adam(parameters, options.LearningRate, weight_decay: options.WeightDecay),
        CnnOptimizer.AdamW => optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay),
        CnnOptimizer.Sgd => optim.SGD(parameters, options.LearningRate, momentum: options.Momentum, weight_decay: options.WeightDecay, nesterov: options.Nesterov),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Optimizer, "Unknown optimizer."),
    };
}
