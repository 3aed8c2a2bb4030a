using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;

namespace MlNetCnn;

/// <summary>MLContext catalog entry points of MlNetCnn.</summary>
public static class MlNetCnnCatalog
{
    /// <summary>
    /// A trainer for a convolutional network image classifier with the options that matter most; see <see cref="CnnTrainer"/>.
    /// Every other setting keeps its <see cref="CnnTrainerOptions"/> default; the options overload sets them all.
    /// </summary>
    /// <param name="catalog">The multiclass classification trainers (<c>mlContext.MulticlassClassification.Trainers</c>).</param>
    /// <param name="labelColumnName">The label column: a key type (<c>MapValueToKey</c>).</param>
    /// <param name="featureColumnName">The image column: planar CHW floats (<see cref="LoadImagesForCnn"/> or <c>ExtractPixels</c>).</param>
    /// <param name="architecture">The network; null for <see cref="CnnArchitecture.LeNet5"/>.</param>
    /// <param name="epochs">Passes over the training data.</param>
    /// <param name="batchSize">Images per optimization step.</param>
    /// <param name="learningRate">Peak learning rate of the schedule (cosine with one warm-up epoch).</param>
    /// <param name="progress">Receives progress reports, e.g. <c>new ConsoleTrainingProgress()</c>; null for none.</param>
    /// <returns>The trainer, to append to a pipeline.</returns>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
    ///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    ///     .Append(ml.MulticlassClassification.Trainers.Cnn(architecture: CnnArchitecture.LeNet5, epochs: 5,
    ///         progress: new ConsoleTrainingProgress()));
    /// </code>
    /// </example>
    public static CnnTrainer Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = DefaultColumnNames.Label, string featureColumnName = DefaultColumnNames.Features,
        CnnArchitecture? architecture = null, int epochs = 10, int batchSize = 64, double learningRate = 3e-3,
        IProgress<TrainingProgress>? progress = null)
        => Cnn(catalog, new CnnTrainerOptions
        {
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            Architecture = architecture ?? CnnArchitecture.LeNet5,
            Epochs = epochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
            Progress = progress,
        });

    /// <summary>A trainer for a convolutional network image classifier with every option; see <see cref="CnnTrainer"/>.</summary>
    /// <param name="catalog">The multiclass classification trainers (<c>mlContext.MulticlassClassification.Trainers</c>).</param>
    /// <param name="options">The training options; validated now, read at <c>Fit</c>.</param>
    /// <returns>The trainer, to append to a pipeline.</returns>
    /// <example>
    /// <code>
    /// var trainer = ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions
    /// {
    ///     Architecture = CnnArchitecture.ResNet9(32), Epochs = 15, BatchSize = 256,
    ///     Optimizer = CnnOptimizer.Sgd, Nesterov = true, LearningRateSchedule = LearningRateSchedule.OneCycle(),
    ///     ValidationFraction = 0.1, Progress = new ConsoleTrainingProgress(),
    /// });
    /// </code>
    /// </example>
    public static CnnTrainer Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, CnnTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        return new CnnTrainer(Persistence.MlNetInternals.Environment(catalog), options);
    }

    /// <summary>
    /// Prepares images named in a path column for a CNN, with ML.NET's image transforms: loads each file, resizes it to
    /// <paramref name="width"/>×<paramref name="height"/> (ML.NET's <c>ResizeImages</c>: scaled to cover the size and
    /// centre-cropped), optionally converts it to grayscale, and writes its pixels scaled to 0..1 as planar CHW floats
    /// (<c>Vector&lt;Single, C, H, W&gt;</c>, C = 1 for grayscale, 3 for RGB), ready for <see cref="CnnTrainer"/>.
    /// The loaded image is not kept in the output.
    /// </summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="width">Width of the network's input, in pixels.</param>
    /// <param name="height">Height of the network's input, in pixels.</param>
    /// <param name="grayscale">True for one channel (the mean of red, green and blue as ML.NET's
    /// <c>ConvertToGrayscale</c> weighs them); false for three (RGB).</param>
    /// <param name="outputColumnName">The column written: the CNN's feature column.</param>
    /// <param name="inputColumnName">The text column holding each image's path, as <see cref="ImageFolder.Load"/> writes it.</param>
    /// <param name="imageFolder">The folder the paths are relative to; null when they are absolute or relative to the current folder.</param>
    /// <returns>An estimator chain of <c>LoadImages</c>, <c>ResizeImages</c>, <c>ConvertToGrayscale</c> (when asked),
    /// <c>ExtractPixels</c> and <c>DropColumns</c>.</returns>
    /// <example>
    /// <code>
    /// IDataView train = ImageFolder.Load(ml, "digits/train");       // ImagePath, Label
    /// var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)   // Features: Vector&lt;Single, 1, 28, 28&gt;
    ///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    ///     .Append(ml.MulticlassClassification.Trainers.Cnn(epochs: 5));
    /// </code>
    /// </example>
    public static EstimatorChain<ColumnSelectingTransformer> LoadImagesForCnn(this TransformsCatalog catalog, int width,
        int height, bool grayscale = false,
        string outputColumnName = DefaultColumnNames.Features, string inputColumnName = "ImagePath", string? imageFolder = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputColumnName);
        if (imageFolder is not null && !Directory.Exists(imageFolder))
            throw new DirectoryNotFoundException($"The image folder '{imageFolder}' given to LoadImagesForCnn does not exist.");

        // A working column for the decoded image, named so that it cannot collide with the user's columns; dropped at the end.
        string image = $"{outputColumnName}.{nameof(LoadImagesForCnn)}.Image";
        IEstimator<ITransformer> chain = catalog.LoadImages(image, imageFolder, inputColumnName)
            .Append(catalog.ResizeImages(image, width, height, inputColumnName: image));
        if (grayscale)
            chain = chain.Append(catalog.ConvertToGrayscale(image));
        return chain
            .Append(catalog.ExtractPixels(outputColumnName, image,
                colorsToExtract: grayscale ? ImagePixelExtractingEstimator.ColorBits.Red : ImagePixelExtractingEstimator.ColorBits.Rgb,
                interleavePixelColors: false, scaleImage: 1f / 255))
            .Append(catalog.DropColumns(image));
    }

    /// <summary>Per-channel image normalization, fitted on the data or with the given mean and standard deviation; see
    /// <see cref="ImageNormalizingEstimator"/>.</summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="outputColumnName">The normalized image column written.</param>
    /// <param name="inputColumnName">The image column read (planar CHW floats); null for <paramref name="outputColumnName"/>.</param>
    /// <param name="mean">Per-channel means to subtract; null to fit them on the data.</param>
    /// <param name="standardDeviation">Per-channel standard deviations to divide by; null to fit them on the data.</param>
    /// <returns>The estimator.</returns>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.LoadImagesForCnn(width: 32, height: 32, outputColumnName: "Pixels")
    ///     .Append(ml.Transforms.NormalizeImages("Features", "Pixels"))                               // fitted per channel
    ///     .Append(ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions { StandardizeInputs = false }));
    /// </code>
    /// </example>
    public static ImageNormalizingEstimator NormalizeImages(this TransformsCatalog catalog, string outputColumnName, string? inputColumnName = null,
        IReadOnlyList<float>? mean = null, IReadOnlyList<float>? standardDeviation = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageNormalizingEstimator(outputColumnName, inputColumnName, mean, standardDeviation);
    }

    /// <summary>Training-time image augmentation applied by <see cref="CnnTrainer"/>; see <see cref="ImageAugmentingEstimator"/>.</summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="options">What to draw for each training image (crop, flips, rotation, colour jitter, erasing).</param>
    /// <param name="columnName">The image column the trainer augments; scoring passes it through unchanged.</param>
    /// <returns>The estimator.</returns>
    /// <example>
    /// <code>
    /// var pipeline = ml.Transforms.LoadImagesForCnn(width: 32, height: 32)
    ///     .Append(ml.Transforms.AugmentImages(ImageAugmentationOptions.CropAndFlip(4, CropPadding.Reflect)))   // training only
    ///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
    ///     .Append(ml.MulticlassClassification.Trainers.Cnn(architecture: CnnArchitecture.ResNet9(32), epochs: 15));
    /// </code>
    /// </example>
    public static ImageAugmentingEstimator AugmentImages(this TransformsCatalog catalog,
        ImageAugmentationOptions options, string columnName = DefaultColumnNames.Features)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageAugmentingEstimator(options, columnName);
    }
}
