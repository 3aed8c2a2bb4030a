using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Persistence.Onnx;

/// <summary>
/// The ONNX graphs of MlNetCnn's pipeline steps. The images arrive as the column's float vector (N × C·H·W, or
/// N×C×H×W when the column carries its dimensions) and every step's output keeps the column's declared type.
/// </summary>
internal static class PipelineOnnxExport
{
    /// <summary><see cref="ImageNormalizingTransformer"/>: (x − mean) · (1 / std) per channel, as the transformer computes it.</summary>
    public static void Normalizer(ImageNormalizingTransformer normalizer, IOnnxGraph graph, DataViewSchema inputSchema)
    {
        var writer = new OnnxNetworkWriter(graph);
        var (images, type) = Images(graph, writer, inputSchema, normalizer.InputColumnName, normalizer.Shape);
        var centered = writer.PerChannel("Sub", images, "image_mean", [.. normalizer.Mean]);
        var scaled = writer.PerChannel("Mul", centered, "image_inverse_std", normalizer.StandardDeviation.Select(s => 1f / s).ToArray());
        writer.WriteTo(AsColumn(writer, scaled, type), graph.DeclareColumn(normalizer.OutputColumnName, type));
    }

    /// <summary><see cref="ImageAugmentingTransformer"/>: the identity, as on every scoring path.</summary>
    public static void Augmenter(ImageAugmentingTransformer augmenter, IOnnxGraph graph, DataViewSchema inputSchema)
    {
        var type = inputSchema[augmenter.ColumnName].Type;
        graph.Node("Identity", [graph.ColumnVariable(augmenter.ColumnName)], [graph.DeclareColumn(augmenter.ColumnName, type)]);
    }

    /// <summary>
    /// <see cref="CnnTransformer"/>: standardization, the network (on the images and their test-time variants stacked into
    /// one batch), Score as softmax probabilities (their weighted mean over the variants), PredictedLabel as ML.NET's
    /// converter writes keys (the 1-based class as uint32) and the embedding column (the head's input for the images
    /// themselves); an image with a NaN or infinite pixel gets NaN scores and embedding and the missing key 0.
    /// </summary>
    public static void Cnn(CnnTransformer transformer, IOnnxGraph graph, DataViewSchema inputSchema)
    {
        var network = transformer.Network;
        var watched = network.EmbeddingColumnName is null ? null : ModuleWeights.LastParameterizedLayer(network.Module).Module;
        var writer = new OnnxNetworkWriter(graph, watched);
        var (images, _) = Images(graph, writer, inputSchema, transformer.FeatureColumnName, network.Shape);
        // An image with a NaN or infinite pixel gets no class, as in the library: NaN scores and embedding, key 0.
        var noClass = writer.NonFiniteRows(images);
        var standardization = network.Standardization;
        if (standardization.Mean.Any(m => m != 0) || standardization.Std.Any(s => s != 1))
            images = writer.PerChannel("Div", writer.PerChannel("Sub", images, "input_mean", standardization.Mean), "input_std", standardization.Std);
        var (views, weights) = TestTimeViews(writer, images, network.TestTimeAugmentation);
        var logits = writer.Network(network.Module, views.Length == 1 ? views[0] : writer.ConcatBatch(views));
        var probabilities = writer.Softmax(logits);
        if (views.Length > 1)
        {
            probabilities = writer.SplitBatch(probabilities, views.Length).Select((p, i) => writer.Scale(p, weights[i])).Aggregate(writer.Add);
        }
        writer.WriteTo(writer.NaNWhere(noClass, probabilities),
            graph.DeclareColumn(DefaultColumnNames.Score, CnnOutputSchema.ScoreType(network.ClassCount)));
        writer.WriteTo(writer.ArgMaxKey(probabilities, noClass),
            graph.DeclareColumn(DefaultColumnNames.PredictedLabel,
                CnnOutputSchema.PredictedLabelType(network.ClassCount)));
        if (network.EmbeddingColumnName is { } embeddingColumn)
        {
            var embedding = writer.WatchedInput
                ?? throw new InvalidOperationException("ONNX export: the network's head was not reached while writing "
                    + "the graph, so the embedding has no source.");
            if (embedding.Rank > 2)
                embedding = writer.Flatten(embedding);
            if (views.Length > 1)
                embedding = writer.SplitBatch(embedding, views.Length)[0];
            writer.WriteTo(writer.NaNWhere(noClass, embedding),
                graph.DeclareColumn(embeddingColumn,
                    new VectorDataViewType(NumberDataViewType.Single, network.EmbeddingSize)));
        }
    }

    /// <summary>
    /// The variants of the images that <paramref name="augmentation"/> scores, the images themselves first, and the
    /// weight of each in the mean of their probabilities (as <see cref="TestTimeAugmenter"/> computes them).
    /// </summary>
    private static (OnnxValue[] Views, float[] Weights) TestTimeViews(OnnxNetworkWriter writer, OnnxValue images, TestTimeAugmentation augmentation)
    {
        switch (augmentation)
        {
            case TestTimeAugmentation.None:
                return ([images], [1f]);
            case TestTimeAugmentation.HorizontalFlip:
                return ([images, writer.FlipWidth(images)], [0.5f, 0.5f]);
            case TestTimeAugmentation.HorizontalFlipAndTranslation:
                long height = images[2], width = images[3];
                var padded = writer.PadReflect(images, 1);
                var downRight = writer.Slice(padded, [2, 3], [0, 0], [height, width], [1, 1]);
                var upLeft = writer.Slice(padded, [2, 3], [2, 2], [height + 2, width + 2], [1, 1]);
                return ([images, writer.FlipWidth(images), downRight, writer.FlipWidth(downRight), upLeft, writer.FlipWidth(upLeft)],
                    [0.25f, 0.25f, 0.125f, 0.125f, 0.125f, 0.125f]);
            default:
                throw new NotSupportedException($"ONNX export: the test-time augmentation {augmentation} has no ONNX form.");
        }
    }

    /// <summary>The image column as N×C×H×W.</summary>
    private static (OnnxValue Images, DataViewType ColumnType) Images(IOnnxGraph graph, OnnxNetworkWriter writer,
        DataViewSchema schema, string column, ImageShape shape)
    {
        var type = schema[column].Type;
        var input = new OnnxValue(graph.ColumnVariable(column), [-1, shape.Size]);
        return (writer.Reshape(input, [-1, shape.Channels, shape.Height, shape.Width]), type);
    }

    /// <summary>Images back in the column's declared shape (flat or C×H×W).</summary>
    private static OnnxValue AsColumn(OnnxNetworkWriter writer, OnnxValue images, DataViewType type)
    {
        var vector = (VectorDataViewType)type;
        long[] dims = vector.Dimensions.Length > 1 ? [.. vector.Dimensions.Select(d => (long)d)] : [vector.Size];
        return writer.Reshape(images, [-1, .. dims]);
    }
}
