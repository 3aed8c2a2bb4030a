using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MlNetCnn.Platform;
using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Trains a convolutional network (see <see cref="CnnArchitecture"/>) on images in an ML.NET pipeline. Input: a
/// feature column of planar CHW floats (ExtractPixels) and a key-typed label column (MapValueToKey). Output: a
/// <see cref="CnnTransformer"/> that adds <c>Score</c> and <c>PredictedLabel</c>, ready for
/// <c>mlContext.MulticlassClassification.Evaluate</c> and <c>MapKeyToValue</c>.
/// </summary>
/// <remarks>
/// <format type="text/markdown"><![CDATA[
/// ### Input and output columns
/// The feature column (`Features` unless `CnnTrainerOptions.FeatureColumnName` says otherwise) must be a known-size
/// vector of `Single` holding planar C×H×W pixels, as `ExtractPixels` (or `LoadImagesForCnn`) writes it; the label
/// column (`Label`, `CnnTrainerOptions.LabelColumnName`) must be a key type with at least two values (`MapValueToKey`).
/// The trained transformer adds:
///
/// | Output column | Column type | Description |
/// | -- | -- | -- |
/// | `Score` | vector of `Single` | The probability of each class (softmax of the network's output; the mean over the test-time views when asked for). |
/// | `PredictedLabel` | key type | The class with the highest score; missing (0) for an image with a NaN or infinite pixel. |
/// | embedding column | vector of `Single` | The classifier head's input, when `CnnTrainerOptions.EmbeddingColumnName` names it. |
///
/// ### Trainer characteristics
/// | | |
/// | -- | -- |
/// | Machine learning task | Multiclass classification (images) |
/// | Is normalization required? | No (the trainer standardizes each channel; `NormalizeImages` fits one explicitly) |
/// | Is caching required? | No (images are cached in memory or streamed from disk: `CnnTrainerOptions.DataCaching`) |
/// | Required NuGet in addition to Microsoft.ML | MlNetCnn, Microsoft.ML.ImageAnalytics, TorchSharp and a backend (TorchSharp-cpu) |
/// | Exportable to ONNX | Yes, every built-in architecture: `mlContext.Model.ExportToOnnx` |
///
/// ### Training algorithm details
/// Mini-batch gradient descent with libtorch (TorchSharp): the network of `CnnTrainerOptions.Architecture`, cross-entropy
/// loss (with label smoothing when asked), the optimizer and learning-rate schedule of the options, augmentation from
/// `AugmentImages` in the pipeline, checkpoints, early stopping and time limits. See the README's Use section.
/// ]]></format>
/// </remarks>
/// <example>
/// <code>
/// var ml = new MLContext(seed: 1);
/// var (train, test) = ImageFolder.LoadTrainTest(ml, "digits");               // digits/train|test/&lt;label&gt;/&lt;image&gt;
/// var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
///     .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
///     .Append(new CnnTrainer(ml, new CnnTrainerOptions
///     {
///         Architecture = CnnArchitecture.LeNet5, Epochs = 5, ValidationFraction = 0.1,
///         Progress = new ConsoleTrainingProgress(),
///     }))
///     .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
/// using var model = pipeline.Fit(train);
/// var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
/// </code>
/// </example>
public sealed class CnnTrainer : IEstimator<CnnTransformer>
{
    private readonly IHost _host;

    /// <summary>Creates the trainer; <paramref name="options"/> are validated now, and again when <see cref="Fit"/> reads them.</summary>
    /// <param name="mlContext">The ML.NET context: its seed, log and cancellation.</param>
    /// <param name="options">The training options; null for the defaults.</param>
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
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Epochs, 0, "CnnTrainerOptions.Epochs");
        if (options.Epochs == 0 && options.InitialWeights is null && options.InitialModel is null)
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.Epochs", 0,
                "CnnTrainerOptions.Epochs is 0: that only packages given weights (InitialWeights or InitialModel) "
                + "without training; set one of them, or train at least 1 epoch.");
        if (options.TimeLimit is { } limit && limit <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.TimeLimit", limit,
                "CnnTrainerOptions.TimeLimit must be positive, or null to train all Epochs.");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, "CnnTrainerOptions.BatchSize");
        if (options.ScoringBatchSize is < 1 or > CnnTrainerOptions.MaxScoringBatchSize)
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.ScoringBatchSize", options.ScoringBatchSize,
                $"CnnTrainerOptions.ScoringBatchSize must be between 1 and {CnnTrainerOptions.MaxScoringBatchSize}.");
        foreach (var (name, size) in new[] { ("Channels", options.Channels), ("ImageHeight", options.ImageHeight),
            ("ImageWidth", options.ImageWidth) })
        {
            if (size is < 1)
                throw new ArgumentOutOfRangeException($"CnnTrainerOptions.{name}", size,
                    $"CnnTrainerOptions.{name} must be at least 1, or null to infer it from the feature column.");
        }
        if (!Enum.IsDefined(options.DataCaching))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.DataCaching", options.DataCaching, "Unknown data caching mode.");
        if (options.MemoryBudgetBytes is < 0)
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.MemoryBudgetBytes", options.MemoryBudgetBytes,
                "The memory budget must be 0 or more bytes.");
        if (options.DataLoadingThreads is < 1)
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.DataLoadingThreads", options.DataLoadingThreads,
                "At least one thread must decode images.");
        if (!Enum.IsDefined(options.TestTimeAugmentation))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.TestTimeAugmentation",
                options.TestTimeAugmentation, "Unknown test-time augmentation.");
        if (options.ValidationTestTimeAugmentation is { } validationTestTime && !Enum.IsDefined(validationTestTime))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.ValidationTestTimeAugmentation",
                validationTestTime, "Unknown test-time augmentation.");
        if (!(options.LearningRate > 0 && double.IsFinite(options.LearningRate)))
            throw new ArgumentOutOfRangeException(nameof(options), options.LearningRate, "CnnTrainerOptions.LearningRate must be a positive number.");
        if (options.NumberOfThreads is { } threads && (threads < 1 || threads > Environment.ProcessorCount))
            throw new ArgumentOutOfRangeException(nameof(options), threads,
                $"CnnTrainerOptions.NumberOfThreads must be between 1 and the {Environment.ProcessorCount} processor "
                + "cores (libtorch's threads spin-wait, so more threads than cores only slow training down), or null "
                + "for all cores.");
        if (string.IsNullOrWhiteSpace(options.FeatureColumnName) || string.IsNullOrWhiteSpace(options.LabelColumnName))
            throw new ArgumentException("CnnTrainerOptions.FeatureColumnName and LabelColumnName must name columns.", nameof(options));
        if (options.LearningRateSchedule is null || options.Device is null)
            throw new ArgumentException("CnnTrainerOptions.LearningRateSchedule and Device must be set.", nameof(options));
        if (!(options.LabelSmoothing >= 0 && options.LabelSmoothing < 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.LabelSmoothing, "CnnTrainerOptions.LabelSmoothing must be in [0, 1).");
        if (!(options.ValidationFraction >= 0 && options.ValidationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.ValidationFraction,
                "CnnTrainerOptions.ValidationFraction must be in [0, 1).");
        if (!(options.WeightDecay >= 0) || !(options.Momentum >= 0 && options.Momentum < 1))
            throw new ArgumentOutOfRangeException(nameof(options), "CnnTrainerOptions.WeightDecay must be 0 or more and Momentum in [0, 1).");
        if (!(options.BatchNormLearningRateFactor > 0 && double.IsFinite(options.BatchNormLearningRateFactor)))
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchNormLearningRateFactor,
                "CnnTrainerOptions.BatchNormLearningRateFactor must be a positive number (1 trains batch norms at the "
                + "learning rate).");
        if (!Enum.IsDefined(options.Precision))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.Precision", options.Precision, "Unknown training precision.");
        if (!Enum.IsDefined(options.WeightInitialization))
            throw new ArgumentOutOfRangeException(nameof(options), options.WeightInitialization, "Unknown weight initialization.");
        if (options.Lookahead is { SyncPeriod: < 1 })
            throw new ArgumentOutOfRangeException(nameof(options), options.Lookahead.SyncPeriod,
                "CnnTrainerOptions.Lookahead.SyncPeriod must be 1 or more optimization steps.");
        if (options.Lookahead is { } lookahead && !(lookahead.Decay >= 0 && lookahead.Decay < 1))
            throw new ArgumentOutOfRangeException(nameof(options), lookahead.Decay,
                "CnnTrainerOptions.Lookahead.Decay must be in [0, 1) (0 turns the averaging off; 1 would never let the "
                + "weights move).");
        if (options.Lookahead is { } power && !(power.DecayPower >= 0 && double.IsFinite(power.DecayPower)))
            throw new ArgumentOutOfRangeException(nameof(options), power.DecayPower,
                "CnnTrainerOptions.Lookahead.DecayPower must be a finite number, 0 or more.");
        options.Mixing?.Validate();
        if (options.GradientClipNorm is { } clip && !(clip > 0))
            throw new ArgumentOutOfRangeException(nameof(options), clip, "CnnTrainerOptions.GradientClipNorm must be positive.");
        ArgumentOutOfRangeException.ThrowIfNegative(options.ProgressInterval, "CnnTrainerOptions.ProgressInterval");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CheckpointEveryEpochs, 1, "CnnTrainerOptions.CheckpointEveryEpochs");
        if (options.EarlyStopping is { Patience: < 0 } or { MinDelta: < 0 })
            throw new ArgumentOutOfRangeException(nameof(options), "EarlyStoppingOptions.Patience and MinDelta must be 0 or more.");
        if (options.CheckpointDirectory is { } checkpoints && string.IsNullOrWhiteSpace(checkpoints))
            throw new ArgumentException("CnnTrainerOptions.CheckpointDirectory is empty: give a folder for the "
                + "checkpoints, or null to write none.", nameof(options));
        if (options.CheckpointDirectory is { } folder && File.Exists(folder))
            throw new ArgumentException($"CnnTrainerOptions.CheckpointDirectory '{Path.GetFullPath(folder)}' is a "
                + "file, not a folder: give a folder for the checkpoints.", nameof(options));
        if (options.ResumeFromCheckpoint is { } resume && !File.Exists(resume))
            throw new FileNotFoundException($"The checkpoint to resume from, '{resume}', does not exist.", resume);
        ArgumentOutOfRangeException.ThrowIfNegative(options.FreezeBackboneEpochs, "CnnTrainerOptions.FreezeBackboneEpochs");
        if (!(options.BackboneLearningRateFactor >= 0 && options.BackboneLearningRateFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.BackboneLearningRateFactor,
                "CnnTrainerOptions.BackboneLearningRateFactor must be in [0, 1].");
        if (!(options.FrozenBackboneFraction >= 0 && options.FrozenBackboneFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.FrozenBackboneFraction,
                "CnnTrainerOptions.FrozenBackboneFraction must be in [0, 1].");
        if (options.FrozenBackboneFraction > 0 && options.InitialWeights is null)
            throw new ArgumentException("CnnTrainerOptions.FrozenBackboneFraction keeps pretrained layers frozen; it "
                + "needs InitialWeights.", nameof(options));
        if (options.InitialModel != null && options.InitialWeights != null)
            throw new ArgumentException("Set either CnnTrainerOptions.InitialModel (a trained CnnTransformer) or "
                + "InitialWeights (pretrained weights), not both.", nameof(options));
        if (options.EmbeddingColumnName is { } embedding
            && (string.IsNullOrWhiteSpace(embedding)
                || embedding is DefaultColumnNames.Score or DefaultColumnNames.PredictedLabel))
            throw new ArgumentException($"CnnTrainerOptions.EmbeddingColumnName '{embedding}' must be a new column name.", nameof(options));
    }

    /// <summary>Checks the input columns and describes the output: the input plus Score and PredictedLabel.</summary>
    /// <param name="inputSchema">The schema of the data the trainer will see.</param>
    /// <returns>The input columns plus <c>Score</c>, <c>PredictedLabel</c> and the embedding column when asked for.</returns>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        InputColumns.ResolveImage(inputSchema, Options.FeatureColumnName);
        var label = InputColumns.ResolveLabel(inputSchema, Options.LabelColumnName);

        var labelAnnotations = label.Annotations?.Where(a => a.Name == "KeyValues").ToList() ?? [];
        var scoreAnnotations = new List<SchemaShape.Column>(
            MlNetInternals.AnnotationShapes(CnnOutputSchema.ScoreAnnotations(2, null)));
        if (labelAnnotations.Count > 0)
            scoreAnnotations.Add(MlNetInternals.ShapeColumn("SlotNames", SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false));
        var predictedAnnotations = labelAnnotations.Concat(MlNetInternals.AnnotationShapes(CnnOutputSchema.PredictedLabelAnnotations(null)));

        var columns = inputSchema.Where(c => c.Name != DefaultColumnNames.Score && c.Name != DefaultColumnNames.PredictedLabel).ToList();
        columns.Add(MlNetInternals.ShapeColumn(DefaultColumnNames.Score, SchemaShape.Column.VectorKind.Vector,
            NumberDataViewType.Single, false, scoreAnnotations));
        columns.Add(MlNetInternals.ShapeColumn(DefaultColumnNames.PredictedLabel, SchemaShape.Column.VectorKind.Scalar,
            NumberDataViewType.UInt32, true, predictedAnnotations));
        if (Options.EmbeddingColumnName is { } embedding)
        {
            columns.RemoveAll(c => c.Name == embedding);
            columns.Add(MlNetInternals.ShapeColumn(embedding, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false));
        }
        return new SchemaShape(columns);
    }

    /// <summary>
    /// Reads the training (and validation) images, cached in memory or streamed (see <see cref="CnnTrainerOptions.DataCaching"/>),
    /// trains the network and returns the transformer.
    /// </summary>
    /// <param name="input">The training data: the feature column (planar CHW floats) and the key-typed label column the options name.</param>
    /// <returns>The trained transformer.</returns>
    /// <exception cref="OperationCanceledException"><see cref="CnnTrainerOptions.CancellationToken"/> was cancelled;
    /// the last checkpoint stays valid.</exception>
    public CnnTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var fitClock = Stopwatch.StartNew();
        // The options may have changed since construction (the trainer reads them now): check them again before any work.
        Validate(Options);
        TorchRuntime.EnsureInitialized();
        var options = Options;
        if (options.CheckpointDirectory is { } checkpointFolder)
            CreateCheckpointFolder(checkpointFolder);
        var device = TorchDevices.Resolve(options.Device);
        var (imageColumn, shape, labelColumn, classCount, augmentation) = ResolveInputs(input.Schema, options);
        var keyValues = LabelKeyValues.FromColumn(labelColumn);
        int seed = options.Seed ?? _host.Rand.Next();

        using var channel = _host.Start("Training");
        var notes = new RunNotes(channel, options.Progress);
        notes.AddKernels(TorchRuntime.KernelCheck);
        var validationColumns = options.ValidationData is { } validationData
            ? ResolveValidation(validationData, shape, classCount)
            : default((IDataView, DataViewSchema.Column, DataViewSchema.Column)?);
        using var data = TrainingData.Create(_host, channel, options, seed, (input, imageColumn, labelColumn), shape, validationColumns);
        var (train, validation) = (data.Train, data.Validation);
        if (options.EarlyStopping is { } early && TrainingMetrics.NeedsValidation(early.Metric) && validation is null)
            throw new ArgumentException($"Early stopping on {early.Metric} needs validation data: set ValidationData "
                + $"or ValidationFraction, or watch {TrainingMetric.TrainLoss}.");
        notes.Add($"{train.Count} training images of {shape}, {classCount} "
            + $"classes{(validation is null ? "" : $", {validation.Count} validation images")}, architecture "
            + $"{options.Architecture.Name}, {options.Optimizer}, {options.LearningRateSchedule}, device "
            + $"{options.Device}{(augmentation is null ? "" : $", augmentation {augmentation.Serialize()}")}.");

        torch.set_num_threads(options.NumberOfThreads ?? Environment.ProcessorCount);
        var checkpoint = options.ResumeFromCheckpoint is { } resumePath ? TrainingCheckpoint.Load(resumePath, shape.Channels) : null;
        var standardization = ChooseStandardization(options, checkpoint, train, shape, notes);
        var module = DrawWeights(options, shape, classCount, seed, notes, standardization);
        try
        {
            module.to(device);
            CnnTransformer Package(IReadOnlyList<EpochSummary> history) => new(options.Architecture,
                new ScoringNetwork(options.Architecture, module, standardization, shape, classCount, device,
                    options.EmbeddingColumnName, options.TestTimeAugmentation),
                options.FeatureColumnName, keyValues, history, options.ScoringBatchSize);
            if (options.Epochs == 0)
                return Package([]);
            string fingerprint = Fingerprint(shape, classCount, train.Count, validation?.Count ?? 0, seed) + "|augment=" + augmentation?.Serialize();
            if (options.PatchWhitening)
                channel.Info(MessageSensitivity.None,
                    "CnnTrainer: "
                    + $"{FirstLayerWhitening.Apply(module, train, standardization, shape, options.CancellationToken)}");
            var augmenter = augmentation is null ? null : new ImageAugmenter(augmentation, seed);
            using var mixedPrecision = MixedPrecisionReplica.Create(module,
                () => CreateTwin(options, shape, classCount), options.Precision, options.Architecture, device,
                notes.Add);
            using (var loop = new TrainingLoop(module, standardization, options, channel, device, seed, fingerprint,
                validation != null, augmenter, mixedPrecision))
            {
                if (checkpoint != null)
                    loop.Restore(checkpoint);
                loop.Run(train, validation, shape, fitClock);
                return Package(loop.History.ToList());
            }
        }
        catch
        {
            module.Dispose();
            standardization.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The image column and its shape, the label column and its class count, and the augmentation the image column
    /// carries, each checked against the options (test-time augmentation needs 2×2 pixels, augmentation must fit).
    /// </summary>
    private static (DataViewSchema.Column Image, ImageShape Shape, DataViewSchema.Column Label, int ClassCount,
        ImageAugmentationOptions? Augmentation) ResolveInputs(DataViewSchema schema, CnnTrainerOptions options)
    {
        var (imageColumn, shape) = InputColumns.ResolveImage(schema, options.FeatureColumnName, options.Channels,
            options.ImageHeight, options.ImageWidth);
        if (options.ValidationTestTimeAugmentation is { } validationAugmentation && !TestTimeAugmenter.Fits(validationAugmentation, shape))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.ValidationTestTimeAugmentation",
                validationAugmentation,
                $"CnnTrainerOptions.ValidationTestTimeAugmentation {validationAugmentation} shifts images by a "
                + $"reflected pixel, which needs at least 2×2 pixels; the images of column '{imageColumn.Name}' are "
                + $"{shape}.");
        if (!TestTimeAugmenter.Fits(options.TestTimeAugmentation, shape))
            throw new ArgumentOutOfRangeException("CnnTrainerOptions.TestTimeAugmentation",
                options.TestTimeAugmentation,
                $"CnnTrainerOptions.TestTimeAugmentation {options.TestTimeAugmentation} shifts images by a reflected "
                + $"pixel, which needs at least 2×2 pixels; the images of column '{imageColumn.Name}' are {shape}. Use "
                + $"{TestTimeAugmentation.HorizontalFlip} or {TestTimeAugmentation.None}.");
        var (labelColumn, classCount) = InputColumns.ResolveLabel(schema, options.LabelColumnName);
        var augmentation = ImageAugmentingTransformer.FromColumn(imageColumn);
        if (augmentation != null)
            ImageAugmenter.CheckFits(augmentation, shape, imageColumn.Name);
        return (imageColumn, shape, labelColumn, classCount, augmentation);
    }

    /// <summary>
    /// The per-channel standardization of the inputs, first that applies: the resumed checkpoint's, the initial
    /// model's, the one the pretrained weights expect, one fitted on the training images, or none.
    /// </summary>
    private static InputStandardization ChooseStandardization(CnnTrainerOptions options, TrainingCheckpoint? checkpoint,
        ITrainingBatchSource train, ImageShape shape, RunNotes notes)
    {
        if (checkpoint != null)
            return new InputStandardization(checkpoint.Mean, checkpoint.Std, shape);
        if (options.InitialModel is { } initial && initial.InputShape.Channels == shape.Channels)
            return new InputStandardization(initial.InputMean.ToArray(), initial.InputStandardDeviation.ToArray(), shape);
        if (options.InitialWeights?.InputNormalization is { } expected && options.StandardizeInputs)
            return PretrainedStandardization(expected, train, shape, notes, options.CancellationToken);
        return options.StandardizeInputs
            ? InputStandardization.Fit(train, shape, options.CancellationToken)
            : InputStandardization.Identity(shape.Channels);
    }

    /// <summary>
    /// Creates the network and draws its weights from libtorch's default generator, seeded. Concurrent Fit calls share
    /// that one generator, so seeding and drawing happen under one lock: the same seed always gives the same weights.
    /// </summary>
    private static nn.Module<Tensor, Tensor> DrawWeights(CnnTrainerOptions options, ImageShape shape, int classCount,
        int seed, RunNotes notes, InputStandardization standardization)
    {
        lock (WeightDraws)
        {
            torch.random.manual_seed(seed);
            // Layer constructors and in-place initializers hand back temporary tensor wrappers; a dispose scope frees
            // them, and only the network's own parameters and buffers leave it. A custom factory may keep other
            // tensors, and given weights are tensors of their own, so those networks are created outside any scope.
            bool scoped = !options.Architecture.IsCustom && options.InitialWeights is null && options.InitialModel is null;
            using var scope = scoped ? NewDisposeScope() : null;
            var module = options.Architecture.CreateModule(shape.Channels, shape.Height, shape.Width, classCount);
            try
            {
                PrepareWeights(module, options, notes);
                if (scope != null)
                    KeepOutOfScope(module);
                return module;
            }
            catch
            {
                module.Dispose();
                standardization.Dispose();
                throw;
            }
        }
    }

    private static readonly object WeightDraws = new();

    /// <summary>
    /// A second instance of a built-in network (for <see cref="MixedPrecisionReplica"/>), which takes the trained
    /// network's weights before every step: drawing its own weights must not move the seeded generator.
    /// </summary>
    private static nn.Module<Tensor, Tensor> CreateTwin(CnnTrainerOptions options, ImageShape shape, int classCount)
    {
        lock (WeightDraws)
        {
            using var generatorState = torch.get_rng_state();
            using var scope = NewDisposeScope();
            var module = options.Architecture.CreateModule(shape.Channels, shape.Height, shape.Width, classCount);
            KeepOutOfScope(module);
            torch.set_rng_state(generatorState);
            return module;
        }
    }

    /// <summary>Detaches a network created in a dispose scope from it: its parameters and buffers outlive the scope,
    /// the temporaries of its construction do not.</summary>
    private static void KeepOutOfScope(nn.Module module)
    {
        foreach (var tensor in module.parameters().Concat(module.buffers()))
            tensor.DetachFromDisposeScope();
    }

    /// <summary>Creates the checkpoint folder now, so a path that cannot be a folder fails before training rather than
    /// after the first epoch.</summary>
    private static void CreateCheckpointFolder(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ArgumentException($"CnnTrainerOptions.CheckpointDirectory '{Path.GetFullPath(folder)}' cannot be "
                + $"created: {e.Message}", nameof(CnnTrainerOptions.CheckpointDirectory), e);
        }
    }

    /// <summary>Initialization, or weights copied from the initial model (fine-tuning) and optionally frozen.</summary>
    private static void PrepareWeights(nn.Module<Tensor, Tensor> module, CnnTrainerOptions options, RunNotes notes)
    {
        ModuleWeights.Initialize(module, options.WeightInitialization);
        if (options.InitialWeights is { } pretrained)
        {
            // Without training every weight must come from the file: a fresh head or layer would score at random.
            var report = pretrained.LoadInto(module, strict: options.Epochs == 0);
            if (options.Epochs == 0 && report.ReplacedHead is { } head)
                throw new ArgumentException($"CnnTrainerOptions.Epochs is 0, but the classifier head '{head}' in "
                    + $"{pretrained.Source} does not fit {options.Architecture.Name} with these classes (another class "
                    + "count, or absent); weights packaged without training must come from a network with the same "
                    + "classes.");
            notes.Add($"pretrained weights {report}");
            return;
        }
        if (options.InitialModel is not { } initial)
            return;
        initial.Network.ThrowIfDisposed("CnnTrainerOptions.InitialModel");
        var copied = ModuleWeights.CopyMatching(initial.Network.Module, module);
        int total = module.state_dict().Count;
        if (copied.Count == 0)
            throw new ArgumentException($"No layer of the initial model ({initial.Architecture.Name}) fits "
                + $"{options.Architecture.Name} at this input size; fine-tuning needs the same architecture.");
        if (options.Epochs == 0 && copied.Count != total)
            throw new ArgumentException($"CnnTrainerOptions.Epochs is 0, but only {copied.Count} of {total} tensors of "
                + $"the initial model ({initial.Architecture.Name}) fit {options.Architecture.Name} here (another "
                + "class count or input size?); without training every weight must come from it.");
        int frozen = options.FreezeCopiedLayers ? ModuleWeights.FreezeCopied(module, copied) : 0;
        notes.Add($"fine-tuning from {initial.Architecture.Name}: copied {copied.Count} of {total} tensors, froze {frozen} parameters.");
    }

    /// <summary>The normalization the pretrained weights expect, scaled to how the pixels were extracted (0–1 or 0–255).</summary>
    private static InputStandardization PretrainedStandardization(PretrainedInputNormalization expected,
        ITrainingBatchSource train, ImageShape shape, RunNotes notes, CancellationToken cancellation)
    {
        float scale = PretrainedInputNormalization.PixelScale(train, shape, cancellation);
        notes.Add($"input normalization of the pretrained weights: {expected} (pixels on the 0–{scale:0} scale).");
        return expected.Create(shape, scale);
    }

    /// <summary>What a checkpoint must agree on to be resumed by this run.</summary>
    private string Fingerprint(ImageShape shape, int classCount, int trainCount, int validationCount, int seed)
    {
        var o = Options;
        return string.Join("|", o.Architecture.Name, shape, $"classes={classCount}", $"train={trainCount}", $"validation={validationCount}",
            $"seed={seed}", $"batch={o.BatchSize}", $"epochs={o.Epochs}", o.Optimizer, $"lr={o.LearningRate:R}", o.LearningRateSchedule,
            $"momentum={o.Momentum:R}", $"nesterov={o.Nesterov}", $"decay={o.WeightDecay:R}", $"clip={o.GradientClipNorm:R}",
            $"smoothing={o.LabelSmoothing:R}", $"standardize={o.StandardizeInputs}", o.WeightInitialization)
            + (o.PatchWhitening ? "|whitening" : "") + (o.BatchNormLearningRateFactor != 1 ? $"|norm-rate={o.BatchNormLearningRateFactor:R}" : "")
            + (o.Precision != TrainingPrecision.Float32 ? $"|precision={o.Precision}" : "")
            + (o.TimeLimit is { } limit ? $"|time-limit={limit:c}" : "")
            + (o.Lookahead is { } lookahead ? $"|{lookahead}" : "") + (o.Mixing is { } mixing ? $"|{mixing}" : "")
            + (o.InitialWeights is { } pretrained
                ? $"|pretrained={pretrained.Source}|freeze={o.FreezeBackboneEpochs}"
                    + $"|backbone={o.BackboneLearningRateFactor:R}"
                    + (o.FrozenBackboneFraction > 0 ? $"|frozen={o.FrozenBackboneFraction:R}" : "")
                : "");
    }

    private (IDataView Data, DataViewSchema.Column Image, DataViewSchema.Column Label) ResolveValidation(IDataView data,
        ImageShape shape, int classCount)
    {
        var (image, _) = InputColumns.ResolveImage(data.Schema, Options.FeatureColumnName, shape.Channels, shape.Height,
            shape.Width, "validation feature");
        var (label, validationClasses) = InputColumns.ResolveLabel(data.Schema, Options.LabelColumnName);
        if (validationClasses != classCount)
            throw new ArgumentOutOfRangeException(nameof(data),
                $"The validation label column '{label.Name}' has {validationClasses} key values but the training label "
                + $"has {classCount}; map both with the same fitted MapValueToKey.");
        return (data, image, label);
    }
}
