using MlNetCnn;

namespace MlNetCnn.Examples;

/// <summary>
/// Cifar10FromFolders' standard recipe for 32×32 photos (SGD-Nesterov on a one-cycle schedule, label smoothing,
/// reflect-padded crops and flips), shared with TransferLearning's from-scratch baseline so both train the same way.
/// </summary>
internal static class StandardCifarRecipe
{
    /// <summary>The peak learning rate at batch 256 for <c>ResNet9(32)</c>; 0.1 suits the deeper VGG and ResNet-18.</summary>
    public const double ResNet9LearningRate = 0.4;

    /// <summary>4-pixel reflected crops and horizontal flips.</summary>
    public static ImageAugmentationOptions Augmentation => ImageAugmentationOptions.CropAndFlip(4, CropPadding.Reflect);

    public static CnnTrainerOptions Options(CnnArchitecture architecture, int epochs, int batchSize, double learningRate) => new()
    {
        Architecture = architecture,
        Epochs = epochs,
        BatchSize = batchSize,
        Optimizer = CnnOptimizer.Sgd,
        Momentum = 0.9,
        Nesterov = true,
        LearningRate = learningRate,
        LearningRateSchedule = LearningRateSchedule.OneCycle(warmupFraction: 0.25),
        WeightDecay = 5e-4,
        LabelSmoothing = 0.2,
    };
}
