using MlNetCnn;

namespace Cifar10FromFolders;

/// <summary>
/// airbench94's recipe (K. Jordan, 2024) built from library options: every hyperparameter is airbench's, converted to
/// this library's conventions (a mean rather than a summed loss; PyTorch's momentum convention).
/// </summary>
internal static class FastRecipe
{
    // airbench94: lr 11.5 per 1,024 images and weight decay 0.0153 per 1,024 images, "decoupled" from the Nesterov
    // momentum 0.85 (a step there is lr / (1 + 1 / (1 − momentum)) per image of a summed loss).
    private const double AirbenchLearningRate = 11.5, AirbenchWeightDecay = 0.0153, Momentum = 0.85;

    /// <summary>airbench94's network at base width 64; wider ones (airbench95 widens it) cost more per image.</summary>
    public const int DefaultWidth = 64;

    /// <summary>The widest network <c>--width</c> builds: 2,048 channels in its later groups, 125 M parameters.</summary>
    public const int MaxWidth = 512;

    /// <summary>The peak rate of a mean loss over <paramref name="batchSize"/> images: 1.5 at airbench's 1,024.</summary>
    public static double LearningRate(int batchSize) => AirbenchLearningRate * batchSize / (1024 * (1 + 1 / (1 - Momentum)));

    public static string Description => "airbench94's recipe: patch whitening, identity init, Nesterov SGD (momentum 0.85) on a triangle schedule, " +
                                        "batch-norm shifts at 64× the rate, label smoothing 0.2, Lookahead, " +
                                        "alternating flips and 2-pixel translations";

    /// <summary>The techniques <c>--without</c> can leave out, one at a time, for the ablation table.</summary>
    public static readonly string[] Techniques = ["whitening", "identity", "norm-rate", "lookahead", "alternating-flip", "label-smoothing"];

    // 2-pixel reflected translations; every image mirrored in alternate epochs (or, without that, by a coin toss).
    public static ImageAugmentationOptions Augmentation(string? without) => without == "alternating-flip"
        ? new() { CropPadding = 2, CropPaddingMode = CropPadding.Reflect, HorizontalFlipProbability = 0.5 }
        : new() { CropPadding = 2, CropPaddingMode = CropPadding.Reflect, AlternateHorizontalFlips = true };

    public static CnnTrainerOptions Options(CnnArchitecture architecture, int epochs, int batchSize, double learningRate, string? without)
    {
        var options = Options(architecture, epochs, batchSize, learningRate);
        switch (without)
        {
            case "whitening":
                options.PatchWhitening = false;
                break;
            case "identity":
                options.WeightInitialization = WeightInitialization.ArchitectureDefault;
                break;
            case "norm-rate":
                options.BatchNormLearningRateFactor = 1;
                break;
            case "lookahead":
                options.Lookahead = null;
                break;
            case "label-smoothing":
                options.LabelSmoothing = 0;
                break;
        }
        return options;
    }

    private static CnnTrainerOptions Options(CnnArchitecture architecture, int epochs, int batchSize, double learningRate) => new()
    {
        Architecture = architecture,
        Epochs = epochs,
        BatchSize = batchSize,
        Optimizer = CnnOptimizer.Sgd,
        Momentum = Momentum,
        Nesterov = true,
        LearningRate = learningRate,
        LearningRateSchedule = LearningRateSchedule.Triangle(peakFraction: 0.23, startFraction: 0.2, endFraction: 0.07),
        // airbench's decay per step is its weight decay × the schedule's factor, whatever the batch size.
        WeightDecay = AirbenchWeightDecay / AirbenchLearningRate,
        BatchNormLearningRateFactor = 64,
        LabelSmoothing = 0.2,
        PatchWhitening = true,
        WeightInitialization = WeightInitialization.Identity,
        Lookahead = new LookaheadOptions(),
    };
}
