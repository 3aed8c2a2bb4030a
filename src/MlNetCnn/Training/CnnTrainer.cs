using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MlNetCnn.Platform;
using MlNetCnn.Persistence;
using TorchSharp;

namespace MlNetCnn;

/// <summary>
/// Trains a convolutional network (see <see cref="CnnArchitecture"/>) on images in an ML.NET pipeline. Input: a
/// feature column of planar CHW floats (ExtractPixels) and a key-typed label column (MapValueToKey). Output: a
/// <see cref="CnnTransformer"/> that adds <c>Score</c> and <c>PredictedLabel</c>, ready for
/// <c>mlContext.MulticlassClassification.Evaluate</c> and <c>MapKeyToValue</c>.
/// </summary>
public sealed class CnnTrainer : IEstimator<CnnTransformer>
{
    private readonly IHost _host;

    /// <summary>Creates the trainer; <paramref name="options"/> are validated now and read at <see cref="Fit"/>.</summary>
    public CnnTrainer(MLContext mlContext, CnnTrainerOptions? options = null)
        : this((IHostEnvironment)mlContext ?? throw new ArgumentNullException(nameof(mlContext)), options)
    {
    }

    internal CnnTrainer(IHostEnvironment environment, CnnTrainerOptions? options)
    {
        Options = options ?? new CnnTrainerOptions();
        Validate(Options);
        _host = environment.Register(nameof(CnnTrainer));
    }

    /// <summary>The options this trainer uses.</summary>
    public CnnTrainerOptions Options { get; }

    private static void Validate(CnnTrainerOptions options)
    {
        if (options.Architecture is null)
            throw new ArgumentException("CnnTrainerOptions.Architecture must be set, e.g. CnnArchitecture.LeNet5.", nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Epochs, 1, "CnnTrainerOptions.Epochs");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, "CnnTrainerOptions.BatchSize");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ScoringBatchSize, 1, "CnnTrainerOptions.ScoringBatchSize");
        if (!(options.LearningRate > 0 && double.IsFinite(options.LearningRate)))
            throw new ArgumentOutOfRangeException(nameof(options), options.LearningRate, "CnnTrainerOptions.LearningRate must be a positive number.");
        if (options.NumberOfThreads is < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.NumberOfThreads, "CnnTrainerOptions.NumberOfThreads must be at least 1.");
        if (string.IsNullOrWhiteSpace(options.FeatureColumnName) || string.IsNullOrWhiteSpace(options.LabelColumnName))
            throw new ArgumentException("CnnTrainerOptions.FeatureColumnName and LabelColumnName must name columns.", nameof(options));
    }

    /// <summary>Checks the input columns and describes the output: the input plus Score and PredictedLabel.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var features = inputSchema.FirstOrDefault(c => c.Name == Options.FeatureColumnName);
        if (features.Name is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The feature column '{Options.FeatureColumnName}' was not found in the input.");
        if (features.Kind != SchemaShape.Column.VectorKind.Vector || features.ItemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), InputColumns.Mismatch("feature", features.Name, "a known-size vector of Single (ExtractPixels output)", $"{features.Kind} of {features.ItemType}"));
        var label = inputSchema.FirstOrDefault(c => c.Name == Options.LabelColumnName);
        if (label.Name is null)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"The label column '{Options.LabelColumnName}' was not found in the input.");
        if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), InputColumns.Mismatch("label", label.Name, "a key type (apply MapValueToKey to the label first)", $"{label.Kind} of {label.ItemType}"));

        var labelAnnotations = label.Annotations?.Where(a => a.Name == "KeyValues").ToList() ?? [];
        var scoreAnnotations = new List<SchemaShape.Column>(
            MlNetInternals.AnnotationShapes(CnnOutputSchema.ScoreAnnotations(2, null)));
        if (labelAnnotations.Count > 0)
            scoreAnnotations.Add(MlNetInternals.ShapeColumn("SlotNames", SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false));
        var predictedAnnotations = labelAnnotations.Concat(MlNetInternals.AnnotationShapes(CnnOutputSchema.PredictedLabelAnnotations(null)));

        var columns = inputSchema.Where(c => c.Name != DefaultColumnNames.Score && c.Name != DefaultColumnNames.PredictedLabel).ToList();
        columns.Add(MlNetInternals.ShapeColumn(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, scoreAnnotations));
        columns.Add(MlNetInternals.ShapeColumn(DefaultColumnNames.PredictedLabel, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, predictedAnnotations));
        return new SchemaShape(columns);
    }

    /// <summary>Reads the training (and validation) images into memory, trains the network and returns the transformer.</summary>
    public CnnTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        TorchRuntime.EnsureInitialized();
        var options = Options;
        var (imageColumn, shape) = InputColumns.ResolveImage(input.Schema, options.FeatureColumnName, options.Channels, options.ImageHeight, options.ImageWidth);
        var (labelColumn, classCount) = InputColumns.ResolveLabel(input.Schema, options.LabelColumnName);
        var keyValues = LabelKeyValues.FromColumn(labelColumn);
        int seed = options.Seed ?? _host.Rand.Next();

        using var channel = _host.Start("Training");
        var train = InMemoryImages.Load(input, imageColumn, labelColumn, shape, "training");
        if (train.SkippedRows > 0)
            channel.Warning(MessageSensitivity.None, $"CnnTrainer: skipped {train.SkippedRows} training rows whose label is missing.");
        var validation = options.ValidationData is null ? null : LoadValidation(options.ValidationData, shape, classCount);
        channel.Info(MessageSensitivity.None, $"CnnTrainer: {train.Count} training images of {shape}, {classCount} classes, architecture {options.Architecture.Name}.");

        torch.set_num_threads(options.NumberOfThreads ?? Environment.ProcessorCount);
        torch.random.manual_seed(seed);
        var standardization = options.StandardizeInputs ? InputStandardization.Fit(train) : InputStandardization.Identity(shape.Channels);
        var module = options.Architecture.CreateModule(shape.Channels, shape.Height, shape.Width, classCount);
        try
        {
            var history = new TrainingLoop(module, standardization, options, channel).Run(train, validation, seed);
            var network = new ScoringNetwork(module, standardization, shape, classCount);
            return new CnnTransformer(options.Architecture, network, options.FeatureColumnName, keyValues, history, options.ScoringBatchSize);
        }
        catch
        {
            module.Dispose();
            standardization.Dispose();
            throw;
        }
    }

    private InMemoryImages LoadValidation(IDataView data, ImageShape shape, int classCount)
    {
        var (image, _) = InputColumns.ResolveImage(data.Schema, Options.FeatureColumnName, shape.Channels, shape.Height, shape.Width, "validation feature");
        var (label, validationClasses) = InputColumns.ResolveLabel(data.Schema, Options.LabelColumnName);
        if (validationClasses != classCount)
            throw new ArgumentOutOfRangeException(nameof(data), $"The validation label column '{label.Name}' has {validationClasses} key values but the training label has {classCount}; map both with the same fitted MapValueToKey.");
        return InMemoryImages.Load(data, image, label, shape, "validation");
    }
}
