using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;
using MlNetCnn.Persistence.Onnx;

namespace MlNetCnn;

/// <summary>
/// A trained CNN as an ML.NET transformer: adds <c>Score</c> (one probability per class) and <c>PredictedLabel</c>
/// (a key over the training labels) to data whose feature column holds images shaped like the training images.
/// Immutable and thread-safe for scoring; scores in batches. Saved and loaded with <c>mlContext.Model.Save/Load</c>.
/// Dispose it (or the model holding it) to free the network's native memory at once. In a fitted pipeline or a
/// loaded model, <see cref="CnnModelExtensions.GetCnnTransformer"/> finds it.
/// </summary>
/// <remarks>
/// A row whose features hold a NaN or infinite value never gets a class: its <c>Score</c> is all NaN and its
/// <c>PredictedLabel</c> the missing key 0 (<c>MapKeyToValue</c> gives an empty value), on every scoring path. Scoring
/// runs libtorch with <see cref="Platform.TorchRuntime.ScoringThreads"/> threads.
/// </remarks>
public sealed class CnnTransformer : ITransformer, IDisposable, IOnnxExportable
{
    internal CnnTransformer(CnnArchitecture architecture, ScoringNetwork network, string featureColumnName,
        LabelKeyValues? labelKeyValues, IReadOnlyList<EpochSummary> history, int scoringBatchSize)
    {
        Architecture = architecture;
        Network = network;
        FeatureColumnName = featureColumnName;
        LabelKeyValues = labelKeyValues;
        TrainingHistory = history;
        ScoringBatchSize = scoringBatchSize;
    }

    /// <summary>The network design.</summary>
    public CnnArchitecture Architecture { get; }

    /// <summary>The image shape the network was trained on.</summary>
    public ImageShape InputShape => Network.Shape;

    /// <summary>The number of classes.</summary>
    public int ClassCount => Network.ClassCount;

    /// <summary>The class names in key order (the label's key values as text, or "1".."N" when the label had none).</summary>
    public IReadOnlyList<string> ClassNames => LabelKeyValues?.SlotNames().Select(n => n.ToString()).ToArray()
        ?? Enumerable.Range(1, ClassCount).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The image column read when scoring.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The figures of each training epoch.</summary>
    public IReadOnlyList<EpochSummary> TrainingHistory { get; }

    /// <summary>The column holding the penultimate-layer features, or null when the model does not output them.</summary>
    public string? EmbeddingColumnName => Network.EmbeddingColumnName;

    /// <summary>Values per embedding (0 when there is no embedding column).</summary>
    public int EmbeddingSize => Network.EmbeddingSize;

    /// <summary>Rows per forward pass in <see cref="Transform"/>.</summary>
    public int ScoringBatchSize { get; }

    /// <summary>The variants of each image scored and averaged (<see cref="CnnTrainerOptions.TestTimeAugmentation"/>).</summary>
    public TestTimeAugmentation TestTimeAugmentation => Network.TestTimeAugmentation;

    /// <summary>Per-channel mean subtracted from the inputs before the network (all 0 when standardization was off).</summary>
    public IReadOnlyList<float> InputMean => Network.Standardization.Mean;

    /// <summary>Per-channel standard deviation the inputs are divided by (all 1 when standardization was off).</summary>
    public IReadOnlyList<float> InputStandardDeviation => Network.Standardization.Std;

    internal ScoringNetwork Network { get; }

    internal LabelKeyValues? LabelKeyValues { get; }

    /// <summary>Always true: the transformer maps each row on its own, so it works in a PredictionEngine.</summary>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ResolveFeatures(inputSchema);
        return CnnOutputSchema.Build(inputSchema, ClassCount, LabelKeyValues, EmbeddingColumnName, EmbeddingSize);
    }

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Network.ThrowIfDisposed();
        return MlNetInternals.WithOnnxExport(new CnnScoringDataView(this, input, ResolveFeatures(input.Schema)), input, this);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        Network.ThrowIfDisposed();
        return new CnnRowMapper(this, inputSchema, ResolveFeatures(inputSchema));
    }

    private DataViewSchema.Column ResolveFeatures(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(FeatureColumnName);
        if (column?.Type is VectorDataViewType { IsKnownSize: true } vector
            && vector.ItemType == NumberDataViewType.Single && vector.Size == InputShape.Size)
            return column.Value;
        // Not the trained size (or no such column): resolve it for the precise error.
        var (resolved, shape) = InputColumns.ResolveImage(schema, FeatureColumnName, null, null, null);
        throw new ArgumentOutOfRangeException(nameof(schema),
            InputColumns.Mismatch("feature", FeatureColumnName,
                $"a vector of {InputShape.Size} values ({InputShape}, as in training)",
                $"{resolved.Type} ({shape.Size} values)"));
    }

    /// <summary>
    /// The trained network's layers, output shapes, parameters and multiply-accumulates for <see cref="InputShape"/>
    /// (see <see cref="CnnModelSummary"/>). Scoring on other threads waits while it runs.
    /// </summary>
    public CnnModelSummary Summary() => Network.Summarize(Architecture.Name);

    /// <summary>
    /// Writes the network's weights with torchvision's state_dict names, atomically: <c>.safetensors</c>, or a PyTorch
    /// file (<c>.pt</c>/<c>.pth</c>) that <c>torch.load</c> reads and <c>load_state_dict</c> accepts for the matching
    /// torchvision model. The input standardization is not part of the weights (see <see cref="InputMean"/>).
    /// </summary>
    /// <param name="path">The file to write; its extension picks the format.</param>
    /// <exception cref="NotSupportedException">The extension is neither .safetensors nor .pt/.pth.</exception>
    public void SaveWeights(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Network.ThrowIfDisposed();
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".safetensors":
                SafeTensorsFile.Write(path, Network.Module.state_dict().Select(p => (p.Key, p.Value)));
                break;
            case ".pt" or ".pth":
                PyTorchStateDictFile.Write(path, Network.Module.state_dict().Select(p => (p.Key, p.Value)).ToList());
                break;
            default:
                throw new NotSupportedException($"'{path}': weights are written as .safetensors or .pt/.pth.");
        }
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => MlNetInternals.Save(ctx, this);

    void IOnnxExportable.ExportOnnx(IOnnxGraph graph, DataViewSchema inputSchema) => PipelineOnnxExport.Cnn(this, graph, inputSchema);

    /// <summary>Frees the network's native memory; scoring afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => Network.Dispose();
}
