using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;
using MlNetCnn.Persistence.Onnx;

namespace MlNetCnn;

/// <summary>
/// Applies (x − mean) / std per channel to planar CHW images, with the mean and standard deviation fitted by
/// <see cref="ImageNormalizingEstimator"/> or given. Applied alike in training and scoring, and saved with the model.
/// </summary>
public sealed class ImageNormalizingTransformer : ITransformer, IOnnxExportable
{
    private readonly ImageColumnMapping _mapping;
    private readonly float[] _mean;
    private readonly float[] _std;

    internal ImageNormalizingTransformer(string outputColumnName, string inputColumnName, ImageShape shape, float[] mean, float[] std)
    {
        if (mean.Length != shape.Channels || std.Length != shape.Channels)
            throw new ArgumentException($"Image normalization of '{inputColumnName}' ({shape}) needs {shape.Channels} "
                + $"mean and standard deviation values; got {mean.Length} and {std.Length}.");
        if (std.Any(s => !(s > 0) || !float.IsFinite(s)) || mean.Any(m => !float.IsFinite(m)))
            throw new ArgumentException($"Image normalization of '{inputColumnName}': standard deviations must be positive and all values finite.");
        Shape = shape;
        _mean = mean;
        _std = std;
        _mapping = new ImageColumnMapping(outputColumnName, inputColumnName, "image normalization input", Normalize, input => input.Annotations);
    }

    /// <summary>The column written.</summary>
    public string OutputColumnName => _mapping.OutputColumnName;

    /// <summary>The column read.</summary>
    public string InputColumnName => _mapping.InputColumnName;

    /// <summary>The image shape fitted on.</summary>
    public ImageShape Shape { get; }

    /// <summary>Per-channel mean subtracted.</summary>
    public IReadOnlyList<float> Mean => _mean;

    /// <summary>Per-channel standard deviation divided by.</summary>
    public IReadOnlyList<float> StandardDeviation => _std;

    /// <summary>Always true.</summary>
    public bool IsRowToRowMapper => true;

    private void Normalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        int plane = Shape.Height * Shape.Width;
        for (int c = 0; c < Shape.Channels; c++)
        {
            float mean = _mean[c], scale = 1f / _std[c];
            var from = source.Slice(c * plane, plane);
            var to = destination.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++)
                to[i] = (from[i] - mean) * scale;
        }
    }

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(CheckShape(inputSchema));

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckShape(input.Schema);
        return MlNetInternals.WithOnnxExport(_mapping.Transform(input), input, this);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(CheckShape(inputSchema));

    private DataViewSchema CheckShape(DataViewSchema schema)
    {
        var (column, shape) = _mapping.ResolveInput(schema);
        if (shape.Size != Shape.Size)
            throw new ArgumentOutOfRangeException(nameof(schema), InputColumns.Mismatch(_mapping.Role, column.Name, $"{Shape} images", $"{shape}"));
        return schema;
    }

    void ICanSaveModel.Save(ModelSaveContext ctx) => MlNetInternals.Save(ctx, this);

    void IOnnxExportable.ExportOnnx(IOnnxGraph graph, DataViewSchema inputSchema) => PipelineOnnxExport.Normalizer(this, graph, inputSchema);

    internal void Write(BinaryWriter writer)
    {
        writer.Write(OutputColumnName);
        writer.Write(InputColumnName);
        writer.Write(Shape.Channels);
        writer.Write(Shape.Height);
        writer.Write(Shape.Width);
        foreach (float v in _mean.Concat(_std))
            writer.Write(v);
    }

    internal static ImageNormalizingTransformer Read(BinaryReader reader)
    {
        string output = reader.ReadString(), input = reader.ReadString();
        var shape = new ImageShape(reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32());
        if (shape.Channels is < 1 or > 4096)
            throw new InvalidDataException($"The image normalization record is corrupt (channels {shape.Channels}).");
        var mean = Enumerable.Range(0, shape.Channels).Select(_ => reader.ReadSingle()).ToArray();
        var std = Enumerable.Range(0, shape.Channels).Select(_ => reader.ReadSingle()).ToArray();
        return new ImageNormalizingTransformer(output, input, shape, mean, std);
    }
}
