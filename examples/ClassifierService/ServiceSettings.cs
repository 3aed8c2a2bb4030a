using System.Globalization;

namespace ClassifierService;

/// <summary>Which engine scores: the loaded ML.NET pipeline (libtorch) or its ONNX export through ApplyOnnxModel.</summary>
public enum ScoringEngine
{
    /// <summary>The saved pipeline as loaded, its <c>CnnTransformer</c> running on libtorch.</summary>
    LibTorch,

    /// <summary>The pipeline's image-loading steps in ML.NET, the rest as ONNX through ONNX Runtime.</summary>
    Onnx,
}

/// <summary>The service's command line, less what ASP.NET Core reads itself (<c>--urls</c> and other host settings).</summary>
public sealed record ServiceSettings
{
    /// <summary>Where the main example writes its model (<c>dotnet run --project examples/MnistFromFolders</c>).</summary>
    public static string DefaultModelPath => Path.Combine(Directory.GetCurrentDirectory(), "output", "model.zip");

    /// <summary>The URL served when neither --urls nor ASPNETCORE_URLS says otherwise: loopback only.</summary>
    public const string DefaultUrls = "http://127.0.0.1:5080";

    public const string Usage = """
        usage: ClassifierService [--model <model.zip>] [--engine libtorch|onnx] [--onnx <bundle.zip>]
                                 [--max-upload-mb N] [--scoring-threads N] [--concurrency N] [--poll-seconds S]
                                 [--urls <url>] | --export-onnx <bundle.zip> [--model <model.zip>]
          --model <file>        the saved ML.NET pipeline (default ./output/model.zip, written by
                                dotnet run --project examples/MnistFromFolders -c Release); watched and swapped live
          --engine E            libtorch (default): score with the loaded pipeline; onnx: score the pipeline's ONNX
                                export through ML.NET's ApplyOnnxModel (exported at start-up and at every swap, or
                                read from --onnx)
          --onnx <bundle.zip>   an ONNX bundle written by --export-onnx (the image-loading steps, model.onnx and the
                                class names); watched and swapped live instead of --model. Needs no libtorch.
          --export-onnx <file>  write the ONNX bundle of --model to <file> and exit
          --max-upload-mb N     the largest upload accepted, in MB (default 20); larger gets 413
          --scoring-threads N   libtorch or ONNX Runtime threads per image scored (default 1: requests run side by side)
          --concurrency N       images scored at once; more requests wait their turn (default: the processor count)
          --poll-seconds S      how often the model file is checked besides file-system events (default 2)
          --urls <url>          where to listen (default http://127.0.0.1:5080)
        """;

    public string ModelPath { get; init; } = DefaultModelPath;

    public bool ModelPathGiven { get; init; }

    public ScoringEngine Engine { get; init; } = ScoringEngine.LibTorch;

    public string? OnnxBundlePath { get; init; }

    public string? ExportOnnxPath { get; init; }

    public long MaxUploadBytes { get; init; } = 20L << 20;

    public int ScoringThreads { get; init; } = 1;

    public int Concurrency { get; init; } = Environment.ProcessorCount;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The file whose replacement swaps the model: the ONNX bundle when one is given, else the model.</summary>
    public string WatchedPath => Path.GetFullPath(Engine == ScoringEngine.Onnx && OnnxBundlePath is { } bundle ? bundle : ModelPath);

    /// <summary>
    /// Reads the service's own options; every other argument (--urls, --environment, ...) is left in
    /// <paramref name="hostArguments"/> for ASP.NET Core. Returns null with <paramref name="error"/> set on a bad value.
    /// </summary>
    public static ServiceSettings? Parse(IReadOnlyList<string> args, out List<string> hostArguments, out string? error)
    {
        var settings = new ServiceSettings();
        hostArguments = [];
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name is not ("--model" or "--engine" or "--onnx" or "--export-onnx" or "--max-upload-mb"
                or "--scoring-threads" or "--concurrency" or "--poll-seconds"))
            {
                hostArguments.Add(name);
                continue;
            }
            if (i + 1 >= args.Count)
            {
                error = $"{name} needs a value.";
                return null;
            }
            string value = args[++i];
            switch (name)
            {
                case "--model":
                    settings = settings with { ModelPath = value, ModelPathGiven = true };
                    break;
                case "--engine":
                    if (!Enum.TryParse(value, ignoreCase: true, out ScoringEngine engine) || !Enum.IsDefined(engine))
                    {
                        error = $"--engine is libtorch or onnx, not '{value}'.";
                        return null;
                    }
                    settings = settings with { Engine = engine };
                    break;
                case "--onnx":
                    settings = settings with { OnnxBundlePath = value };
                    break;
                case "--export-onnx":
                    settings = settings with { ExportOnnxPath = value };
                    break;
                case "--max-upload-mb":
                    if (!TryNumber(value, 0.001, 4096, out double megabytes))
                    {
                        error = $"--max-upload-mb is a number of MB from 0.001 to 4096, not '{value}'.";
                        return null;
                    }
                    settings = settings with { MaxUploadBytes = (long)(megabytes * (1 << 20)) };
                    break;
                case "--scoring-threads":
                    if (!int.TryParse(value, CultureInfo.InvariantCulture, out int threads) || threads < 1 || threads > Environment.ProcessorCount)
                    {
                        error = $"--scoring-threads is 1 to the {Environment.ProcessorCount} processor cores, not '{value}'.";
                        return null;
                    }
                    settings = settings with { ScoringThreads = threads };
                    break;
                case "--concurrency":
                    if (!int.TryParse(value, CultureInfo.InvariantCulture, out int concurrency) || concurrency < 1 || concurrency > 1024)
                    {
                        error = $"--concurrency is 1 to 1024, not '{value}'.";
                        return null;
                    }
                    settings = settings with { Concurrency = concurrency };
                    break;
                case "--poll-seconds":
                    if (!TryNumber(value, 0.05, 3600, out double seconds))
                    {
                        error = $"--poll-seconds is 0.05 to 3600, not '{value}'.";
                        return null;
                    }
                    settings = settings with { PollInterval = TimeSpan.FromSeconds(seconds) };
                    break;
            }
        }
        if (settings.OnnxBundlePath is not null && settings.ExportOnnxPath is null)
            settings = settings with { Engine = ScoringEngine.Onnx };
        return settings;
    }

    /// <summary>What is missing before the service can start (a clear message naming the command that makes it), or null.</summary>
    public string? MissingInput()
    {
        if (Engine == ScoringEngine.Onnx && OnnxBundlePath is { } bundle && ExportOnnxPath is null)
        {
            return File.Exists(bundle) ? null
                : $"The ONNX bundle '{Path.GetFullPath(bundle)}' does not exist. Write it with: dotnet run --project " +
                  "examples/ClassifierService -c Release -- --export-onnx <bundle.zip> --model <model.zip>";
        }
        if (File.Exists(ModelPath))
            return null;
        return ModelPathGiven
            ? $"The model file '{Path.GetFullPath(ModelPath)}' does not exist."
            : $"No model at '{ModelPath}'. Train and save one first, from the repository root, with: dotnet run --project " +
              "examples/MnistFromFolders -c Release (it writes output/model.zip); or pass --model <model.zip>.";
    }

    private static bool TryNumber(string text, double min, double max, out double value)
        => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
}
