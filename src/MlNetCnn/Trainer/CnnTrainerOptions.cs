using Microsoft.ML;

namespace MlNetCnn;

/// <summary>Options of <see cref="CnnTrainer"/>. The defaults train the built-in architectures well without tuning.</summary>
/// <remarks>
/// The trainer keeps this object and reads it when <see cref="CnnTrainer.Fit"/> runs, so a change made after the
/// trainer was created (e.g. setting <see cref="Progress"/>) takes effect. The options are checked when the trainer is
/// created and again when <c>Fit</c> starts: a value made invalid in between fails there, with an
/// <see cref="ArgumentException"/> naming the option, before any data is read. Do not change them while <c>Fit</c> runs.
/// </remarks>
public sealed class CnnTrainerOptions
{
    /// <summary>The largest <see cref="ScoringBatchSize"/>: beyond a few hundred rows a larger batch is no faster, only bigger.</summary>
    public const int MaxScoringBatchSize = 16_384;

    /// <summary>The network to train. Default: <see cref="CnnArchitecture.LeNet5"/>.</summary>
    public CnnArchitecture Architecture { get; set; } = CnnArchitecture.LeNet5;

    /// <summary>
    /// Passes over the training data. Default 10. 0 trains nothing: with <see cref="InitialWeights"/> (every weight,
    /// head included, must come from the file) or <see cref="InitialModel"/>, <c>Fit</c> packages those weights as a
    /// transformer, e.g. to score in ML.NET a network trained elsewhere (PyTorch DistributedDataParallel, see README).
    /// </summary>
    public int Epochs { get; set; } = 10;

    /// <summary>
    /// Trains as many epochs as fit in this time, counted from the start of <c>Fit</c> (reading and caching the images
    /// and <see cref="PatchWhitening"/> count too), and at most <see cref="Epochs"/>; null (the default) trains all
    /// <see cref="Epochs"/>. The number is planned from the speed of the first training steps, re-planned after the
    /// first epoch from its measured time (training, validation and checkpoints), and lowered later when epochs slow
    /// down; the learning-rate schedule and <see cref="Lookahead"/> stretch over the planned epochs, so the run ends
    /// with its schedule completed rather than cut off. At least one epoch is trained, whatever it takes. How many epochs
    /// fit depends on the machine, so a time-limited run is not reproducible bit for bit; a resumed run keeps its
    /// checkpoint's plan, or shortens it to fit its own limit.
    /// </summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Images per optimization step. Default 64.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Peak learning rate of the schedule. Default 3e-3 (Adam on standardized inputs).</summary>
    public double LearningRate { get; set; } = 3e-3;

    /// <summary>The optimizer. Default Adam.</summary>
    public CnnOptimizer Optimizer { get; set; } = CnnOptimizer.Adam;

    /// <summary>How the learning rate changes over the run. Default:
    /// <see cref="LearningRateSchedule.CosineWithWarmup"/> with one warm-up epoch.</summary>
    public LearningRateSchedule LearningRateSchedule { get; set; } = LearningRateSchedule.CosineWithWarmup();

    /// <summary>Momentum of <see cref="CnnOptimizer.Sgd"/>. Default 0.9.</summary>
    public double Momentum { get; set; } = 0.9;

    /// <summary>Use Nesterov momentum with <see cref="CnnOptimizer.Sgd"/>. Default false.</summary>
    public bool Nesterov { get; set; }

    /// <summary>Weight decay (L2 for Adam and SGD, decoupled for AdamW). Default 0 (AdamW: 0.01 is typical).</summary>
    public double WeightDecay { get; set; }

    /// <summary>
    /// Lookahead weight averaging (airbench): a slow copy of the weights, blended with the trained weights every few
    /// steps, is what each epoch evaluates, checkpoints and returns. Null (default) trains without it.
    /// </summary>
    public LookaheadOptions? Lookahead { get; set; }

    /// <summary>Clip the gradients' global L2 norm to this value before each step; null leaves them alone.</summary>
    public double? GradientClipNorm { get; set; }

    /// <summary>Label smoothing of the cross-entropy loss, in [0, 1). Default 0.</summary>
    public double LabelSmoothing { get; set; }

    /// <summary>
    /// Mixup and/or CutMix of the training batches (images and labels mixed in pairs), a regularizer against
    /// overfitting small training sets. Null (default) trains on the images as they are.
    /// </summary>
    public MixingOptions? Mixing { get; set; }

    /// <summary>Weight initialization. Default: the architecture's own.</summary>
    public WeightInitialization WeightInitialization { get; set; } = WeightInitialization.ArchitectureDefault;

    /// <summary>
    /// Sets the network's first convolution from the training images before training and keeps its weights fixed
    /// (patch whitening, as airbench and hlb-CIFAR10 do): its filters are the eigenvectors of the covariance of the
    /// convolution-sized patches of 5,000 training images (a seeded sample, standardized and unaugmented), each divided by the
    /// square root of its eigenvalue (plus 5e-4), followed by their negatives while filters remain, so the first layer
    /// passes on decorrelated patches of unit variance from the first step. Needs a first convolution with at least
    /// channels × kernel height × kernel width filters (<see cref="CnnArchitecture.AirbenchNet"/> has twice as many);
    /// its bias still trains. Default false.
    /// </summary>
    public bool PatchWhitening { get; set; }

    /// <summary>
    /// Batch-norm parameters train at this multiple of the learning rate, with <see cref="WeightDecay"/> divided by it
    /// so that their decay per step stays as it is (airbench trains its batch-norm shifts 64 times faster). Default 1.
    /// </summary>
    public double BatchNormLearningRateFactor { get; set; } = 1;

    /// <summary>Seed for weight initialization and the per-epoch shuffle; null takes one from the <see cref="MLContext"/>'s seed.</summary>
    public int? Seed { get; set; }

    /// <summary>The label column: a key type, as <c>MapValueToKey</c> produces. Default "Label".</summary>
    public string LabelColumnName { get; set; } = DefaultColumnNames.Label;

    /// <summary>The image column: planar CHW floats, as <c>ExtractPixels</c> produces. Default "Features".</summary>
    public string FeatureColumnName { get; set; } = DefaultColumnNames.Features;

    /// <summary>Image channels; inferred from the feature column's dimensions (e.g. <c>Vector&lt;Single,3,32,32&gt;</c>) when null.</summary>
    public int? Channels { get; set; }

    /// <summary>Image height; inferred from the feature column's dimensions when null.</summary>
    public int? ImageHeight { get; set; }

    /// <summary>Image width; inferred from the feature column's dimensions when null.</summary>
    public int? ImageWidth { get; set; }

    /// <summary>
    /// Data scored after every epoch (loss and accuracy reported, nothing learned from it). It must have the same
    /// columns as the training data reaching the trainer, e.g. <c>preprocessing.Fit(train).Transform(validation)</c>.
    /// </summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>
    /// When no <see cref="ValidationData"/> is given: the fraction of the training images set aside for validation
    /// (stratified by class, seeded). Default 0 (none).
    /// </summary>
    public double ValidationFraction { get; set; }

    /// <summary>
    /// Whether the decoded images are cached in memory or decoded again every epoch while the network trains (for
    /// collections larger than memory). Default <see cref="MlNetCnn.DataCaching.Auto"/>: cached when they fit
    /// <see cref="MemoryBudgetBytes"/>. Training gives the same result either way when the data can be read by
    /// position (e.g. <see cref="ImageFolder"/>); other data streamed is shuffled through a buffer.
    /// </summary>
    public DataCaching DataCaching { get; set; } = DataCaching.Auto;

    /// <summary>
    /// The memory the cached images (training and validation) may take with <see cref="MlNetCnn.DataCaching.Auto"/>;
    /// null (default) allows a quarter of the memory available to the process.
    /// </summary>
    public long? MemoryBudgetBytes { get; set; }

    /// <summary>Caches floats even for 8-bit images (the float path, for benchmarks and tests).</summary>
    internal bool CacheAsFloats { get; set; }

    /// <summary>Threads that decode images while training when they are streamed; null (default) uses half the cores (at least one).</summary>
    public int? DataLoadingThreads { get; set; }

    /// <summary>Stop when a metric stops improving; null trains all <see cref="Epochs"/>.</summary>
    public EarlyStoppingOptions? EarlyStopping { get; set; }

    /// <summary>
    /// A folder for checkpoints: <c>checkpoint-last.cnnckpt</c> after every <see cref="CheckpointEveryEpochs"/> epochs and
    /// <c>checkpoint-best.cnnckpt</c> at the best epoch (by the early-stopping metric, else validation or training loss).
    /// Written atomically. Null writes none. <c>Fit</c> creates the folder when it starts; an empty path or a path
    /// naming a file fails there, before training.
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Epochs between checkpoints. Default 1.</summary>
    public int CheckpointEveryEpochs { get; set; } = 1;

    /// <summary>
    /// A checkpoint to resume from: weights, optimizer state, schedule position and random state are restored and the
    /// run continues at the next epoch, reaching the weights an uninterrupted run would (same data and options).
    /// </summary>
    public string? ResumeFromCheckpoint { get; set; }

    /// <summary>Cancels training at the next batch boundary; <c>Fit</c> then throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// Fine-tuning: start from this trained model's weights (and its input standardization) instead of a fresh network.
    /// Layers whose shapes match are copied; a classifier head of another class count starts fresh.
    /// </summary>
    public CnnTransformer? InitialModel { get; set; }

    /// <summary>
    /// Transfer learning: start from pretrained weights (<see cref="PretrainedWeights.FromFile"/>: PyTorch, safetensors or
    /// ONNX files) matched to the architecture's layers by torchvision's
    /// state_dict names; a classifier head of another class count starts fresh. The log lists what was loaded, skipped
    /// and missing. Not together with <see cref="InitialModel"/>.
    /// </summary>
    public PretrainedWeights? InitialWeights { get; set; }

    /// <summary>
    /// With <see cref="InitialWeights"/>: epochs at the start during which only the classifier head trains; the rest of
    /// the network (the backbone) is frozen, its batch norms' statistics included (they stay in evaluation mode).
    /// Default 1: a fresh head first learns from the pretrained features, so its early, large gradients do not disturb them.
    /// </summary>
    public int FreezeBackboneEpochs { get; set; } = 1;

    /// <summary>
    /// With <see cref="InitialWeights"/>: the backbone's learning rate, once unfrozen, as a fraction of the head's (which
    /// follows <see cref="LearningRate"/> and the schedule); the two are separate optimizer parameter groups. Default 0.1.
    /// </summary>
    public double BackboneLearningRateFactor { get; set; } = 0.1;

    /// <summary>
    /// With <see cref="InitialWeights"/>: the share, in [0, 1], of the backbone's layers with weights, counted from the
    /// input, that stays frozen for the whole run (weights and batch-norm statistics), so only the later layers are
    /// fine-tuned. Backpropagation then stops at the first trainable layer, which saves the frozen layers' backward
    /// pass, and the generic early features cannot overfit a small data set. Default 0 (the whole backbone is fine-tuned
    /// after <see cref="FreezeBackboneEpochs"/>); 1 trains only the head.
    /// </summary>
    public double FrozenBackboneFraction { get; set; }

    /// <summary>With <see cref="InitialModel"/>: train only the layers that were not copied from it (e.g. the new head)
    /// plus the last layer.</summary>
    public bool FreezeCopiedLayers { get; set; }

    /// <summary>
    /// Also output the penultimate-layer features (the input of the last layer) as a float vector column of this name,
    /// so the CNN can feed any ML.NET trainer. Null (default) adds no such column.
    /// </summary>
    public string? EmbeddingColumnName { get; set; }

    /// <summary>The device. Default <see cref="CnnDevice.Cpu"/>.</summary>
    public CnnDevice Device { get; set; } = CnnDevice.Cpu;

    /// <summary>
    /// Standardize each input channel with the training data's mean and standard deviation inside the network (saved
    /// with the model, applied when scoring). Default true: it makes the default learning rate suit any pixel scaling.
    /// </summary>
    public bool StandardizeInputs { get; set; } = true;

    /// <summary>
    /// Threads for TorchSharp's CPU kernels while training, from 1 to <see cref="Environment.ProcessorCount"/> (libtorch's
    /// threads spin-wait, so more threads than cores only slow it down); null uses all processor cores. Scoring uses
    /// <see cref="MlNetCnn.Platform.TorchRuntime.ScoringThreads"/> instead.
    /// </summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>
    /// The number format of the training steps. Default <see cref="TrainingPrecision.Float32"/>.
    /// <see cref="TrainingPrecision.MixedBFloat16WhereNative"/> runs convolutions and linear layers in bfloat16 on CPUs
    /// with bfloat16 instructions (1.1 to 1.8 times the training images per second measured there, most networks 1.6
    /// or more) and keeps float32 elsewhere; weights, optimizer state, batch norms and the loss stay float32 either way,
    /// and validation, scoring and the saved model are float32. Applies to the built-in architectures on the CPU.
    /// </summary>
    public TrainingPrecision Precision { get; set; }

    /// <summary>
    /// Rows scored per forward pass by the fitted transformer, from 1 to <see cref="MaxScoringBatchSize"/>. Default 256. A cursor's
    /// buffers hold at most 64 M values, so for large images fewer rows go into each pass.
    /// </summary>
    public int ScoringBatchSize { get; set; } = 256;

    /// <summary>
    /// Variants of each image scored and averaged by the fitted transformer (saved with it) and by the per-epoch
    /// validation figures. Default <see cref="MlNetCnn.TestTimeAugmentation.None"/>; a horizontal flip typically adds a
    /// few tenths of a point of accuracy on photographs at twice the scoring cost.
    /// </summary>
    public TestTimeAugmentation TestTimeAugmentation { get; set; }

    /// <summary>
    /// The test-time augmentation of the per-epoch validation figures only; null (default) uses
    /// <see cref="TestTimeAugmentation"/>. <see cref="MlNetCnn.TestTimeAugmentation.None"/> keeps validation cheap while
    /// the saved model still scores with <see cref="TestTimeAugmentation"/> (six views cost six forward passes per image
    /// per epoch).
    /// </summary>
    public TestTimeAugmentation? ValidationTestTimeAugmentation { get; set; }

    /// <summary>
    /// Receives reports within each epoch (see <see cref="ProgressInterval"/>) and one after every epoch (epochs also go
    /// to <see cref="MLContext.Log"/>); <see cref="ConsoleTrainingProgress"/> shows them as a console progress line.
    /// Reports arrive on the training thread.
    /// </summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>
    /// When reports within an epoch are sent: 0 (default) after the first batch and then about twice a second, whatever the
    /// network's speed (a live display); N ≥ 1 after every N batches.
    /// </summary>
    public int ProgressInterval { get; set; }

    /// <summary>The least time between two reports within an epoch when <see cref="ProgressInterval"/> is 0.</summary>
    internal static TimeSpan AutomaticProgressPeriod { get; } = TimeSpan.FromMilliseconds(500);
}
