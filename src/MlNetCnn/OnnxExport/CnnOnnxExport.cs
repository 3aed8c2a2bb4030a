using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// ONNX export of a trained CNN pipeline in one call, on the pipeline as trained: <c>LoadImagesForCnn</c> (or
/// <c>LoadImages</c> → <c>ResizeImages</c> → <c>ExtractPixels</c>), <c>MapValueToKey</c> on the label,
/// <c>NormalizeImages</c>, <c>AugmentImages</c>, the CNN and <c>MapKeyToValue</c>.
/// </summary>
public static class CnnOnnxExport
{
    /// <summary>
    /// Writes the ONNX form of <paramref name="model"/> from its first MlNetCnn step on (<c>NormalizeImages</c>,
    /// <c>AugmentImages</c> or the CNN) to its end, with ML.NET's converter: the graph's one input is that step's image
    /// column (<c>Features</c>, [-1, C, H, W]), its outputs <c>Score.output</c>, <c>PredictedLabel.output</c> (a 1×1
    /// tensor per image: the class name after <c>MapKeyToValue</c>, else the 1-based class) and any embedding column.
    /// The steps before it (loading, resizing and extracting images, mapping the label to a key) have no ONNX form:
    /// they run in ML.NET on <paramref name="data"/> to give the converter the image column, and a host decodes and
    /// resizes images itself (in ML.NET, the same <c>LoadImagesForCnn</c> in front of <c>ApplyOnnxModel</c>).
    /// </summary>
    /// <param name="catalog">The model operations catalog (<c>mlContext.Model</c>).</param>
    /// <param name="model">The fitted pipeline, as <c>Fit</c> returned it or <c>Model.Load</c> read it.</param>
    /// <param name="data">Rows of the pipeline's input schema (a few are enough: they fix the column types).</param>
    /// <param name="stream">Where the ONNX file is written.</param>
    /// <exception cref="ArgumentException">The pipeline has no MlNetCnn step, or the data lacks what its first steps read.</exception>
    /// <example>
    /// <code>
    /// ml.Model.ExportToOnnx(model, train, "model.onnx");
    /// var onnx = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
    ///     .Append(ml.Transforms.ApplyOnnxModel(["Score.output", "PredictedLabel.output"], ["Features"], "model.onnx"));
    /// </code>
    /// </example>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, ITransformer model, IDataView data, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(stream);
        var steps = Flatten(model).ToList();
        int first = steps.FindIndex(s => ImageColumn(s) is not null);
        if (first < 0)
        {
            throw new ArgumentException("ExportToOnnx exports pipelines with a CNN (CnnTrainer, NormalizeImages or AugmentImages); this one has " +
                $"{string.Join(", ", steps.Select(s => s.GetType().Name))}. Use ml.Model.ConvertToOnnx for other pipelines.", nameof(model));
        }
        string imageColumn = ImageColumn(steps[first])!;
        var images = new TransformerChain<ITransformer>([.. steps.Take(first)]).Transform(data);
        if (images.Schema.GetColumnOrNull(imageColumn) is null)
        {
            throw new ArgumentException($"The data gives no '{imageColumn}' column to the pipeline's " +
                $"{steps[first].GetType().Name}; columns after its " +
                $"first {first} steps: {string.Join(", ", images.Schema.Where(c => !c.IsHidden).Select(c => c.Name))}.", nameof(data));
        }
        var ml = new MLContext();
        // Only the image column enters the graph (another column would become an input the file cannot be run without),
        // and the converter needs the rows it walks to be materialized.
        var selected = ml.Data.Cache(ml.Transforms.SelectColumns(imageColumn).Fit(images).Transform(images));
        ml.Model.ConvertToOnnx(new TransformerChain<ITransformer>([.. steps.Skip(first)]), selected, stream);
    }

    /// <summary>
    /// <see cref="ExportToOnnx(ModelOperationsCatalog, ITransformer, IDataView, Stream)"/> to a file, written atomically:
    /// a temporary file in the same folder, renamed over <paramref name="path"/> once complete.
    /// </summary>
    /// <param name="catalog">The model operations catalog (<c>mlContext.Model</c>).</param>
    /// <param name="model">The fitted pipeline.</param>
    /// <param name="data">Rows of the pipeline's input schema.</param>
    /// <param name="path">The ONNX file to write.</param>
    public static void ExportToOnnx(this ModelOperationsCatalog catalog, ITransformer model, IDataView data, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Persistence.AtomicFile.Write(path, stream => catalog.ExportToOnnx(model, data, stream));
    }

    /// <summary>The image column an MlNetCnn step reads, or null for other steps.</summary>
    private static string? ImageColumn(ITransformer step) => step switch
    {
        ImageNormalizingTransformer normalizer => normalizer.InputColumnName,
        ImageAugmentingTransformer augmenter => augmenter.ColumnName,
        CnnTransformer cnn => cnn.FeatureColumnName,
        _ => null,
    };

    private static IEnumerable<ITransformer> Flatten(ITransformer model) => model is IEnumerable<ITransformer> chain
        ? chain.SelectMany(Flatten)
        : [model];
}
