using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// Adds training-time image augmentation (random crop with padding, flips, small rotations and translations, colour
/// jitter, random erasing) to a pipeline: append it after <c>ExtractPixels</c> and before <see cref="CnnTrainer"/>.
/// The trainer draws new random transformations for every image in every epoch, on whole batches; scoring, evaluation,
/// <c>PredictionEngine</c> and saved models always see the original images. See <see cref="ImageAugmentingTransformer"/>.
/// </summary>
public sealed class ImageAugmentingEstimator : IEstimator<ImageAugmentingTransformer>
{
    private readonly ImageAugmentationOptions _options;

    /// <summary>Creates the estimator for the image column <paramref name="columnName"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="options">What to draw for each training image.</param>
    /// <param name="columnName">The image column (planar CHW floats) the trainer augments.</param>
    public ImageAugmentingEstimator(MLContext mlContext, ImageAugmentationOptions options, string columnName = DefaultColumnNames.Features)
        : this(options, columnName)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
    }

    internal ImageAugmentingEstimator(ImageAugmentationOptions options, string columnName)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(columnName);
        options.Validate();
        _options = options;
        ColumnName = columnName;
    }

    /// <summary>The image column marked for augmentation.</summary>
    public string ColumnName { get; }

    /// <inheritdoc />
    public ImageAugmentingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputColumns.ResolveImage(input.Schema, ColumnName, null, null, null, "image augmentation");
        return new ImageAugmentingTransformer(ColumnName, _options);
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var input = InputColumns.ResolveImage(inputSchema, ColumnName, "image augmentation");
        var annotations = (input.Annotations ?? new SchemaShape([])).Where(a => a.Name != ImageAugmenter.AnnotationKind).ToList();
        annotations.Add(MlNetInternals.ShapeColumn(ImageAugmenter.AnnotationKind, SchemaShape.Column.VectorKind.Scalar,
            TextDataViewType.Instance, false));
        var columns = inputSchema.Where(c => c.Name != ColumnName).ToList();
        columns.Add(MlNetInternals.ShapeColumn(ColumnName, input.Kind, input.ItemType, false, annotations));
        return new SchemaShape(columns);
    }
}
