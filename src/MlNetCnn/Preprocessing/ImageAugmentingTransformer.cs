using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;
using MlNetCnn.Persistence.Onnx;

namespace MlNetCnn;

/// <summary>
/// Marks an image column for training-time augmentation. On every scoring path (<c>Transform</c>, evaluation,
/// <c>PredictionEngine</c>, a saved and reloaded model) it passes the images through unchanged; the augmentation
/// itself is carried to <see cref="CnnTrainer"/> in the column's annotations, and the trainer applies a new random
/// draw to every training batch, so test data is never augmented and every epoch sees different images.
/// </summary>
public sealed class ImageAugmentingTransformer : ITransformer, IOnnxExportable
{
    private readonly ImageColumnMapping _mapping;

    internal ImageAugmentingTransformer(string columnName, ImageAugmentationOptions options)
    {
        options.Validate();
        Options = options;
        string serialized = options.Serialize();
        _mapping = new ImageColumnMapping(columnName, columnName, "image augmentation", (source, destination) => source.CopyTo(destination), input =>
        {
            var annotations = new DataViewSchema.Annotations.Builder();
            annotations.Add(input.Annotations, kind => kind != ImageAugmenter.AnnotationKind);
            annotations.Add(ImageAugmenter.AnnotationKind, TextDataViewType.Instance,
                (ref ReadOnlyMemory<char> value) => value = serialized.AsMemory());
            return annotations.ToAnnotations();
        });
    }

    /// <summary>The image column marked.</summary>
    public string ColumnName => _mapping.OutputColumnName;

    /// <summary>The augmentation the trainer applies.</summary>
    public ImageAugmentationOptions Options { get; }

    /// <summary>Always true.</summary>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _mapping.GetOutputSchema(inputSchema);

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _mapping.ResolveInput(input.Schema);
        return MlNetInternals.WithOnnxExport(_mapping.Transform(input), input, this);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _mapping.GetRowToRowMapper(inputSchema);

    void ICanSaveModel.Save(ModelSaveContext ctx) => MlNetInternals.Save(ctx, this);

    void IOnnxExportable.ExportOnnx(IOnnxGraph graph, DataViewSchema inputSchema) => PipelineOnnxExport.Augmenter(this, graph, inputSchema);

    /// <summary>The augmentation recorded on an image column, or null.</summary>
    internal static ImageAugmentationOptions? FromColumn(DataViewSchema.Column column)
    {
        if (column.Annotations.Schema.GetColumnOrNull(ImageAugmenter.AnnotationKind) is null)
            return null;
        ReadOnlyMemory<char> text = default;
        column.Annotations.GetValue(ImageAugmenter.AnnotationKind, ref text);
        return ImageAugmentationOptions.Parse(text.ToString());
    }

    internal void Write(BinaryWriter writer)
    {
        writer.Write(ColumnName);
        writer.Write(Options.Serialize());
    }

    internal static ImageAugmentingTransformer Read(BinaryReader reader)
        => new(reader.ReadString(), ImageAugmentationOptions.Parse(reader.ReadString()));
}
