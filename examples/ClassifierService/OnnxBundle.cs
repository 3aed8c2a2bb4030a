using System.IO.Compression;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
#if !ONNX_ONLY
using MlNetCnn;
#endif

namespace ClassifierService;

/// <summary>
/// A pipeline's ONNX export with what ONNX cannot hold: ML.NET's image-loading steps (decode, resize, grayscale,
/// pixels: they have no ONNX form) saved as an ML.NET model, and the class names in the order of the scores. One zip,
/// written atomically, so a bundle is replaced (and swapped live) as one file; reading it needs no libtorch.
/// </summary>
public sealed class OnnxBundle
{
    private const string OnnxEntry = "model.onnx";
    private const string PreprocessingEntry = "preprocessing.zip";
    private const string ClassesEntry = "classes.json";
    // Far above any real model; refuses a forged entry size before it is allocated.
    private const long MaxEntryBytes = 2L << 30;

    private OnnxBundle(byte[] onnx, byte[] preprocessing, string featureColumn, IReadOnlyList<string> classes)
    {
        Onnx = onnx;
        Preprocessing = preprocessing;
        FeatureColumn = featureColumn;
        Classes = classes;
    }

    /// <summary>The ONNX graph of the steps after the image loading (the CNN, its label mapping).</summary>
    public byte[] Onnx { get; }

    /// <summary>The image-loading steps, an ML.NET model from <c>ImagePath</c> to <see cref="FeatureColumn"/>.</summary>
    public byte[] Preprocessing { get; }

    /// <summary>The image column the ONNX graph reads.</summary>
    public string FeatureColumn { get; }

    /// <summary>The class names in the order of the graph's <c>Score.output</c>.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Writes the bundle through a temporary file renamed over <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
            {
                Write(zip, OnnxEntry, Onnx);
                Write(zip, PreprocessingEntry, Preprocessing);
                Write(zip, ClassesEntry, JsonSerializer.SerializeToUtf8Bytes(new ClassList(FeatureColumn, [.. Classes])));
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Reads a bundle written by <see cref="Save"/>; a damaged or foreign file is an <see cref="InvalidDataException"/>.</summary>
    public static OnnxBundle Read(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var classes = JsonSerializer.Deserialize<ClassList>(ReadEntry(zip, ClassesEntry))
                ?? throw new InvalidDataException($"{ClassesEntry} is empty");
            if (classes.Classes is not { Length: >= 2 } names || names.Any(string.IsNullOrEmpty) || names.Distinct().Count() != names.Length)
                throw new InvalidDataException($"{ClassesEntry} does not list two or more distinct class names");
            if (string.IsNullOrWhiteSpace(classes.FeatureColumn))
                throw new InvalidDataException($"{ClassesEntry} names no feature column");
            return new OnnxBundle(ReadEntry(zip, OnnxEntry), ReadEntry(zip, PreprocessingEntry), classes.FeatureColumn, names);
        }
        catch (Exception e) when (e is InvalidDataException or JsonException or IOException && e is not FileNotFoundException)
        {
            throw new InvalidDataException($"The ONNX bundle '{path}' cannot be read: {e.Message}", e);
        }
    }

#if !ONNX_ONLY
    /// <summary>
    /// Exports a saved pipeline that starts from an image path (<c>LoadImagesForCnn</c> ... <c>Cnn</c> ...): its
    /// image-loading steps stay ML.NET, everything after them goes through ML.NET's ONNX converter, and the label's
    /// <c>MapValueToKey</c> (needed for training only) is left out, as the README's ONNX export describes.
    /// </summary>
    /// <param name="modelPath">The saved pipeline.</param>
    /// <param name="probeImagePath">Any image, to give the converter rows of the image column's schema.</param>
    public static OnnxBundle Export(string modelPath, string probeImagePath)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.LoadCnnModel(modelPath, out var inputSchema);
        try
        {
            var steps = Flatten(model).ToList();
            var cnn = model.GetCnnTransformer();
            int cnnIndex = steps.IndexOf(cnn);
            int imageEnd = steps.FindLastIndex(cnnIndex, t => t.GetType().Namespace == "Microsoft.ML.Transforms.Image") + 1;
            if (imageEnd == 0)
                throw new InvalidDataException($"The model '{modelPath}' has no image-loading steps before its CNN: the service " +
                    "scores pipelines that start from an ImagePath column (LoadImagesForCnn).");
            // The working image column's DropColumns belongs with the loading steps.
            while (imageEnd < cnnIndex && steps[imageEnd] is ColumnSelectingTransformer)
                imageEnd++;
            var loading = new TransformerChain<ITransformer>(steps.Take(imageEnd).Where(t => t is not ValueToKeyMappingTransformer).ToArray());
            var scoring = new TransformerChain<ITransformer>(steps.Skip(imageEnd)
                .Where((t, i) => !(t is ValueToKeyMappingTransformer && imageEnd + i < cnnIndex)).ToArray());

            var probe = ml.Data.LoadFromEnumerable([new ImageRequest { ImagePath = probeImagePath }]);
            using var onnx = new MemoryStream();
            try
            {
                ml.Model.ConvertToOnnx(scoring, FeaturesOnly(ml, loading.Transform(probe), cnn.FeatureColumnName), onnx);
            }
            catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
            {
                throw new InvalidDataException($"The model '{modelPath}' cannot be exported to ONNX: {e.Message}", e);
            }
            using var preprocessing = new MemoryStream();
            ml.Model.Save(loading, inputSchema, preprocessing);
            return new OnnxBundle(onnx.ToArray(), preprocessing.ToArray(), cnn.FeatureColumnName, cnn.ClassNames);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// The image column alone, in a view of its own: the converter walks a view back to its first source and would
    /// otherwise start the graph at ImagePath, before the steps that have no ONNX form.
    /// </summary>
    private static IDataView FeaturesOnly(MLContext ml, IDataView loaded, string featureColumn)
    {
        var source = featureColumn == nameof(FeatureRow.Features) ? loaded
            : ml.Transforms.CopyColumns(nameof(FeatureRow.Features), featureColumn).Fit(loaded).Transform(loaded);
        var rows = ml.Data.CreateEnumerable<FeatureRow>(source, reuseRowObject: false).ToArray();
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition[0].ColumnName = featureColumn;
        definition[0].ColumnType = loaded.Schema[featureColumn].Type;
        return ml.Data.LoadFromEnumerable(rows, definition);
    }

    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = [];
    }

    private static IEnumerable<ITransformer> Flatten(ITransformer model)
        => model is IEnumerable<ITransformer> chain ? chain.SelectMany(Flatten) : [model];
#endif

    private static void Write(ZipArchive zip, string name, byte[] bytes)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
        stream.Write(bytes);
    }

    private static byte[] ReadEntry(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"it has no {name}");
        if (entry.Length > MaxEntryBytes)
            throw new InvalidDataException($"its {name} declares {entry.Length:N0} bytes");
        using var stream = entry.Open();
        var bytes = new byte[entry.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private sealed record ClassList(string FeatureColumn, string[] Classes);
}
