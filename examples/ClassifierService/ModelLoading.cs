using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
#if !ONNX_ONLY
using MlNetCnn;
using MlNetCnn.Platform;
#endif

namespace ClassifierService;

/// <summary>Loads a model for an engine and checks it on the probe image before it may serve.</summary>
public static class ModelLoading
{
    /// <summary>Whether this build carries libtorch (a build with -p:MlNetCnnTorchBackend=false does not).</summary>
#if ONNX_ONLY
    public static bool HasLibTorch => false;
#else
    public static bool HasLibTorch => true;
#endif

    /// <summary>Why these settings cannot be served by this build, or null.</summary>
    public static string? BuildProblem(ServiceSettings settings)
        => HasLibTorch || (settings.Engine == ScoringEngine.Onnx && settings.OnnxBundlePath is not null && settings.ExportOnnxPath is null)
            ? null : NoLibTorch;

    /// <summary>
    /// The model the settings name, loaded completely and checked: every class scored, finite, summing to 1 on the
    /// probe image. A file that cannot be loaded or fails the check is an <see cref="InvalidDataException"/>.
    /// </summary>
    public static ScoringModel LoadChecked(ServiceSettings settings, ServiceFiles files)
    {
        var model = Load(settings, files);
        try
        {
            Check(model, files.ProbeImagePath);
            return model;
        }
        catch
        {
            model.Release();
            throw;
        }
    }

    private static ScoringModel Load(ServiceSettings settings, ServiceFiles files)
    {
        // Idle engines kept per model: one per image scored at once is all a request can use.
        int maxIdle = settings.Concurrency;
        if (settings.Engine == ScoringEngine.Onnx)
        {
            var bundle = settings.OnnxBundlePath is { } path ? OnnxBundle.Read(path) : ExportOnnx(settings.ModelPath, files);
            return LoadOnnx(bundle, settings.WatchedPath, settings.ScoringThreads, maxIdle, files);
        }
        return LoadLibTorch(settings.ModelPath, settings.ScoringThreads, maxIdle);
    }

    /// <summary>The saved pipeline as it is, its CNN on libtorch.</summary>
    public static ScoringModel LoadLibTorch(string modelPath, int scoringThreads, int maxIdleEngines)
    {
#if ONNX_ONLY
        throw new NotSupportedException(NoLibTorch);
#else
        // libtorch keeps the count per scoring thread and applies it before each forward pass (README: Scoring threads).
        TorchRuntime.ScoringThreads = scoringThreads;
        var ml = new MLContext(seed: 1);
        var model = ml.Model.LoadCnnModel(modelPath, out var inputSchema);
        try
        {
            var classes = model.GetCnnTransformer().ClassNames;
            return new ScoringModel(Path.GetFullPath(modelPath), ScoringEngine.LibTorch, classes,
                () => ml.Model.CreatePredictionEngine<ImageRequest, ScoreRow>(model, inputSchema), maxIdleEngines,
                (IDisposable)model);
        }
        catch (InvalidOperationException e)
        {
            (model as IDisposable)?.Dispose();
            throw new InvalidDataException($"The model '{modelPath}' cannot be served: {e.Message}", e);
        }
#endif
    }

    /// <summary>The bundle's image-loading steps, then its ONNX graph through ML.NET's <c>ApplyOnnxModel</c>.</summary>
    public static ScoringModel LoadOnnx(OnnxBundle bundle, string source, int scoringThreads, int maxIdleEngines, ServiceFiles files)
    {
        var ml = new MLContext(seed: 1);
        ITransformer loading;
        DataViewSchema inputSchema;
        using (var stream = new MemoryStream(bundle.Preprocessing, writable: false))
            loading = ml.Model.Load(stream, out inputSchema);
        // ApplyOnnxModel reads a file; the copy lives as long as the model and is deleted with it.
        var onnxFile = files.NewOwnedFile(".onnx", bundle.Onnx);
        OnnxTransformer? onnx = null;
        try
        {
            var options = new OnnxOptions
            {
                ModelFile = onnxFile.Path,
                InputColumns = [bundle.FeatureColumn],
                OutputColumns = ["Score.output"],
                IntraOpNumThreads = scoringThreads,
                InterOpNumThreads = 1,
            };
            var empty = ml.Data.LoadFromEnumerable(Array.Empty<ImageRequest>());
            onnx = ml.Transforms.ApplyOnnxModel(options).Fit(loading.Transform(empty));
            var chain = new TransformerChain<ITransformer>(loading, onnx);
            return new ScoringModel(source, ScoringEngine.Onnx, bundle.Classes,
                () => ml.Model.CreatePredictionEngine<ImageRequest, ScoreRow>(chain, inputSchema), maxIdleEngines, onnx, onnxFile);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            onnx?.Dispose();
            onnxFile.Dispose();
            // ONNX Runtime's message carries its native stack: its first line says what is wrong.
            string reason = e.Message.Split('\n', 2)[0].Trim();
            throw new InvalidDataException($"The ONNX model from '{source}' cannot be served: {reason}", e);
        }
    }

    /// <summary>The ONNX bundle of a saved pipeline, exported now (needs libtorch to load the CNN).</summary>
    public static OnnxBundle ExportOnnx(string modelPath, ServiceFiles files)
    {
#if ONNX_ONLY
        throw new NotSupportedException(NoLibTorch);
#else
        return OnnxBundle.Export(modelPath, files.ProbeImagePath);
#endif
    }

    /// <summary>Scores the probe image: every class, finite probabilities that sum to 1.</summary>
    public static void Check(ScoringModel model, string probeImagePath)
    {
        if (model.Classes.Count < 2 || model.Classes.Distinct().Count() != model.Classes.Count)
            throw new InvalidDataException($"The model '{model.Source}' does not name two or more distinct classes.");
        Classification result;
        try
        {
            result = model.Classify(probeImagePath);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new InvalidDataException($"The model '{model.Source}' failed to score the probe image: {e.Message}", e);
        }
        double sum = result.Scores.Sum(s => (double)s.Score);
        if (result.Scores.Any(s => !float.IsFinite(s.Score)) || Math.Abs(sum - 1) > 1e-3)
            throw new InvalidDataException($"The model '{model.Source}' scored the probe image with probabilities that are " +
                $"not finite or do not sum to 1 (sum {sum:G6}).");
    }

    private const string NoLibTorch = "This build of the service has no libtorch (it was built with " +
        "-p:MlNetCnnTorchBackend=false): serve an ONNX bundle with --engine onnx --onnx <bundle.zip>, written by a full " +
        "build's --export-onnx.";
}
