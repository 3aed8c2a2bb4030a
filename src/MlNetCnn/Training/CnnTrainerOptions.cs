using Microsoft.ML;

namespace MlNetCnn;

/// <summary>Options of <see cref="CnnTrainer"/>. The defaults train the built-in architectures well without tuning.</summary>
public sealed class CnnTrainerOptions
{
    /// <summary>The network to train. Default: <see cref="CnnArchitecture.LeNet5"/>.</summary>
    public CnnArchitecture Architecture { get; set; } = CnnArchitecture.LeNet5;

    /// <summary>Passes over the training data. Default 10.</summary>
    public int Epochs { get; set; } = 10;

    /// <summary>Images per optimization step. Default 64.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Peak learning rate of the schedule. Default 3e-3 (Adam on standardized inputs).</summary>
    public double LearningRate { get; set; } = 3e-3;

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
    /// Standardize each input channel with the training data's mean and standard deviation inside the network (saved
    /// with the model, applied when scoring). Default true: it makes the default learning rate suit any pixel scaling.
    /// </summary>
    public bool StandardizeInputs { get; set; } = true;

    /// <summary>Threads for TorchSharp's CPU kernels; null uses all processor cores.</summary>
    public int? NumberOfThreads { get; set; }

    /// <summary>Rows scored per forward pass by the fitted transformer. Default 256.</summary>
    public int ScoringBatchSize { get; set; } = 256;

    /// <summary>Receives a report after every epoch (also written to <see cref="MLContext.Log"/>).</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
}
