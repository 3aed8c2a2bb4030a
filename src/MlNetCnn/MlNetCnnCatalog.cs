using Microsoft.ML;

namespace MlNetCnn;

/// <summary>MLContext catalog entry points of MlNetCnn.</summary>
public static class MlNetCnnCatalog
{
    /// <summary>A trainer for a convolutional network image classifier; see <see cref="CnnTrainer"/>.</summary>
    public static CnnTrainer Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, CnnTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new CnnTrainer(Persistence.MlNetInternals.Environment(catalog), options);
    }

    /// <summary>Per-channel image normalization, fitted on the data or with the given mean and standard deviation; see <see cref="ImageNormalizingEstimator"/>.</summary>
    public static ImageNormalizingEstimator NormalizeImages(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null,
        IReadOnlyList<float>? mean = null, IReadOnlyList<float>? standardDeviation = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageNormalizingEstimator(outputColumnName, inputColumnName, mean, standardDeviation);
    }

    /// <summary>Training-time image augmentation applied by <see cref="CnnTrainer"/>; see <see cref="ImageAugmentingEstimator"/>.</summary>
    public static ImageAugmentingEstimator AugmentImages(this TransformsCatalog catalog, ImageAugmentationOptions options, string columnName = DefaultColumnNames.Features)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageAugmentingEstimator(options, columnName);
    }
}
