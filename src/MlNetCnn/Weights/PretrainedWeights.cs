using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Pretrained network weights to start training from (<see cref="CnnTrainerOptions.InitialWeights"/>) or to load into
/// a network from <see cref="CnnArchitecture.CreateModule"/>: PyTorch state_dict files (<c>.pt</c>, <c>.pth</c>),
/// <c>.safetensors</c> and ONNX models. Weights match the network's layers by torchvision's state_dict names; a
/// classifier head of another class count starts fresh. Files are validated before anything is allocated: a damaged
/// or forged file, or one holding a NaN or infinite weight, is an <see cref="InvalidDataException"/> naming it (and the
/// tensor). Dispose to free the tensors.
/// </summary>
public sealed class PretrainedWeights : IDisposable
{
    private readonly Dictionary<string, Tensor>? _tensors;
    private readonly Func<nn.Module, Dictionary<string, Tensor>>? _mapOnto;
    private bool _disposed;

    private PretrainedWeights(string source, Dictionary<string, Tensor>? tensors, Func<nn.Module, Dictionary<string, Tensor>>? mapOnto)
    {
        Source = source;
        _tensors = tensors;
        _mapOnto = mapOnto;
    }

    /// <summary>Where the weights came from (a path, or the package's name).</summary>
    public string Source { get; }

    /// <summary>
    /// The input normalization these weights were trained with, which <see cref="CnnTrainer"/> applies when they are
    /// its <see cref="CnnTrainerOptions.InitialWeights"/> (and <see cref="CnnTrainerOptions.StandardizeInputs"/> is on).
    /// Files: torchvision's ImageNet mean/std, the convention of every torchvision model; set another, or null to
    /// standardize with the training data's own statistics. <see cref="MlNetResNet18"/>: its mean image on 0–255 pixels.
    /// </summary>
    public PretrainedInputNormalization? InputNormalization { get; set; } = PretrainedInputNormalization.ImageNet;

    /// <summary>The weights' names (state_dict keys), or empty when they are named only once mapped onto a network (ONNX).</summary>
    public IReadOnlyCollection<string> Keys => (IReadOnlyCollection<string>?)_tensors?.Keys ?? [];

    /// <summary>
    /// Reads weights from <paramref name="path"/>: <c>.pt</c>/<c>.pth</c>/<c>.bin</c> (a PyTorch state_dict saved with
    /// <c>torch.save</c>), <c>.safetensors</c>, or <c>.onnx</c>.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is damaged, truncated, not a regular file, not of the format its
    /// extension says, or holds a NaN or infinite weight.</exception>
    /// <exception cref="NotSupportedException">The extension is none of the above.</exception>
    public static PretrainedWeights FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"The weights file '{path}' does not exist.", path);
        Platform.TorchRuntime.EnsureInitialized();
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".pt" or ".pth" or ".bin" => FromTensors(path, PyTorchStateDictFile.Read(path)),
            ".safetensors" => FromTensors(path, SafeTensorsFile.Read(path)),
            ".onnx" => FromOnnx(path, reverseInputChannels: false),
            string other =>
                throw new NotSupportedException($"'{path}': weights files ending in '{other}' are not read; use "
                    + ".pt/.pth (PyTorch state_dict), .safetensors or .onnx."),
        };
    }

    private static PretrainedWeights FromTensors(string path, Dictionary<string, Tensor> tensors)
    {
        try
        {
            foreach (var (name, tensor) in tensors)
                RefuseNonFinite(path, name, tensor);
        }
        catch
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
            throw;
        }
        return new PretrainedWeights(path, tensors, null);
    }

    private static PretrainedWeights FromOnnx(string path, bool reverseInputChannels)
    {
        var graph = OnnxWeights.Read(ReadOnnx(path), path);
        return new PretrainedWeights(path, null, module => OnnxWeights.Map(graph, path, module, reverseInputChannels));
    }

    /// <summary>An ONNX file whose float initializers are all finite.</summary>
    private static OnnxModel ReadOnnx(string path)
    {
        var model = OnnxModel.Read(path);
        foreach (var initializer in model.Initializers.Values)
        {
            int bad = Array.FindIndex(initializer.Values, v => !float.IsFinite(v));
            if (bad >= 0)
                throw NonFinite(path, initializer.Name, initializer.Values[bad], bad, initializer.Values.Length);
        }
        return model;
    }

    /// <summary>
    /// Refuses a tensor holding NaN or ±∞ (checked here, for every format, before any network sees it): as initial
    /// weights it makes every score NaN, and training then diverges with a message that points away from the file.
    /// </summary>
    private static void RefuseNonFinite(string path, string name, Tensor tensor)
    {
        if (!tensor.is_floating_point())
            return;
        using var scope = NewDisposeScope();
        var finite = isfinite(tensor).flatten();
        if (finite.all().item<bool>())
            return;
        long bad = finite.logical_not().nonzero()[0, 0].item<long>();
        double value = tensor.flatten()[bad].to_type(ScalarType.Float64).item<double>();
        throw NonFinite(path, name, value, bad, tensor.NumberOfElements);
    }

    private static InvalidDataException NonFinite(string path, string name, double value, long element, long count)
        => SafeTensorsFile.Invalid(path, string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"tensor '{name}' holds {value} at element {element:N0} of {count:N0}; weights must be finite"));

    /// <summary>The NuGet package that ships ML.NET's pretrained ResNet-18, and its version.</summary>
    public const string MlNetResNet18Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    private const string MlNetResNet18PackageVersion = "0.24.0";

    /// <summary>
    /// ML.NET's own ImageNet-pretrained ResNet-18: the ONNX model (a CNTK export) in the NuGet package
    /// <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c>, for <see cref="CnnArchitecture.ResNet(int[])"/> with blocks
    /// [2, 2, 2, 3] (no classifier: the head starts fresh). The first convolution's input channels are reversed, so the
    /// network takes RGB like every other here, and <see cref="InputNormalization"/> is the model's own preprocessing:
    /// 0–255 pixels minus its mean image. Offline: the files come from the app's output (<c>DnnImageModels/</c>, where the
    /// package copies them) or the NuGet cache.
    /// </summary>
    /// <param name="modelsFolder">The <c>DnnImageModels</c> folder; null looks in the app's output folder, then in the NuGet cache.</param>
    /// <exception cref="FileNotFoundException">The model is not there; the message names the package to add.</exception>
    public static PretrainedWeights MlNetResNet18(string? modelsFolder = null)
    {
        string folder = modelsFolder ?? FindMlNetModels()
            ?? throw new FileNotFoundException(
                $"ML.NET's pretrained ResNet-18 was not found: add the NuGet package {MlNetResNet18Package} " +
                $"{MlNetResNet18PackageVersion} to the app " +
                "(it copies DnnImageModels/ResNet18Onnx/ResNet18.onnx to the output), or pass its DnnImageModels " +
                $"folder. Looked in '{Path.Combine(AppContext.BaseDirectory, "DnnImageModels")}' and the NuGet cache.");
        string model = Path.Combine(folder, "ResNet18Onnx", "ResNet18.onnx");
        string preprocess = Path.Combine(folder, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
        foreach (string file in new[] { model, preprocess })
            if (!File.Exists(file))
                throw new FileNotFoundException($"'{file}' is missing; the package {MlNetResNet18Package} "
                    + $"{MlNetResNet18PackageVersion} ships it.", file);
        Platform.TorchRuntime.EnsureInitialized();
        var weights = FromOnnx(model, reverseInputChannels: true);
        weights.InputNormalization = MlNetMeanImage(preprocess);
        return weights;
    }

    private static string? FindMlNetModels()
    {
        string output = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
        if (File.Exists(Path.Combine(output, "ResNet18Onnx", "ResNet18.onnx")))
            return output;
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string cached = Path.Combine(packages, MlNetResNet18Package.ToLowerInvariant(), MlNetResNet18PackageVersion, "tools", "DnnImageModels");
        return File.Exists(Path.Combine(cached, "ResNet18Onnx", "ResNet18.onnx")) ? cached : null;
    }

    /// <summary>The preprocessing model's BGR mean image (0–255), as an RGB mean image on the 0–1 scale with std 1/255.</summary>
    private static PretrainedInputNormalization MlNetMeanImage(string preprocessPath)
    {
        var preprocess = ReadOnnx(preprocessPath);
        var image = preprocess.Initializers.Values.FirstOrDefault(i => i.Shape is [1, 3, > 0, > 0] && i.Values.Length > 0)
            ?? throw new InvalidDataException($"'{preprocessPath}' has no 1×3×H×W mean image.");
        int height = (int)image.Shape[2], width = (int)image.Shape[3], plane = height * width;
        var rgb = new float[image.Values.Length];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                rgb[c * plane + i] = image.Values[(2 - c) * plane + i] / 255f;
        return PretrainedInputNormalization.MeanImage(rgb, height, width, [1 / 255f, 1 / 255f, 1 / 255f],
            $"ML.NET ResNet-18 preprocessing (0–255 pixels minus its {height}×{width} mean image)");
    }

    /// <summary>
    /// Copies the weights into <paramref name="module"/> by state_dict name. The classifier head (the network's last
    /// layer with parameters) is left fresh when the file's head has another shape (another class count) or is absent.
    /// </summary>
    /// <param name="module">A network, e.g. from <see cref="CnnArchitecture.CreateModule"/>.</param>
    /// <param name="strict">When true, every weight of the network except the head must come from the file and every
    /// weight of the file must fit the network; otherwise nothing is copied and the exception lists the differences.
    /// When false, keys the file lacks or the network lacks are allowed and reported, as with PyTorch's
    /// <c>load_state_dict(strict=False)</c>; a weight of another shape is still an error (it would keep its random
    /// initialization silently), except the replaced classifier head.</param>
    /// <returns>Which keys were loaded, skipped (with the reason) and missing.</returns>
    /// <exception cref="ArgumentException">A weight's shape differs from the network's, outside the classifier head
    /// (keys and both shapes named; nothing is copied), or, in strict mode, keys are missing or left over.</exception>
    public PretrainedWeightsReport LoadInto(nn.Module module, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var source = _tensors ?? _mapOnto!(module);
        try
        {
            return Load(module, source, strict);
        }
        finally
        {
            if (_tensors is null)
                foreach (var tensor in source.Values)
                    tensor.Dispose();
        }
    }

    private PretrainedWeightsReport Load(nn.Module module, Dictionary<string, Tensor> source, bool strict)
    {
        var target = module.state_dict();
        string head = ModuleWeights.LastParameterizedLayer(module).Name;
        bool InHead(string key) => head.Length == 0 ? !key.Contains('.') : key.StartsWith(head + ".", StringComparison.Ordinal);
        // The head is replaced when the file's head weights do not all fit (another class count) or are absent.
        var headKeys = target.Keys.Where(InHead).ToList();
        bool replaceHead = headKeys.Any(k => !source.TryGetValue(k, out var t) || !t.shape.SequenceEqual(target[k].shape));

        var loaded = new List<string>();
        var skipped = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<string>();
        var mismatches = new List<string>();
        foreach (var (key, tensor) in target)
        {
            if (replaceHead && InHead(key))
            {
                if (source.TryGetValue(key, out var fileHead))
                    skipped[key] = $"classifier head replaced: the file's [{Shape(fileHead)}], the network's [{Shape(tensor)}]";
                continue;
            }
            if (!source.TryGetValue(key, out var value))
            {
                // PyTorch before 0.4.1 and ONNX exports have no batch counters; nothing reads them when momentum is set.
                if (!key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                    missing.Add(key);
                continue;
            }
            if (!value.shape.SequenceEqual(tensor.shape))
            {
                mismatches.Add($"{key}: the file's [{Shape(value)}], the network's [{Shape(tensor)}]");
                continue;
            }
            loaded.Add(key);
        }
        foreach (string key in source.Keys.Where(k => !target.ContainsKey(k)))
            skipped[key] = "the network has no such weight";

        // At most 15 of each kind, so a wholly different network still shows every kind of difference.
        static IEnumerable<string> First(IEnumerable<string> items, int total, string prefix)
            => items.Take(15).Select(i => prefix + i).Concat(total > 15 ? [$"{prefix}... ({total - 15} more)"] : []);
        string separator = Environment.NewLine + "  ";
        if (strict)
        {
            var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
            int count = mismatches.Count + missing.Count + unexpected.Count;
            if (count > 0)
                throw new ArgumentException(
                    $"The weights in '{Source}' do not fit {module.GetName()} ({count} differences; strict loading copies nothing then):{separator}" +
                    string.Join(separator, First(mismatches, mismatches.Count, "shape mismatch ")
                        .Concat(First(missing, missing.Count, "missing from the file: "))
                        .Concat(First(unexpected, unexpected.Count, "not in the network: "))), nameof(module));
        }
        else if (mismatches.Count > 0)
            throw new ArgumentException(
                $"The weights in '{Source}' do not fit {module.GetName()}: {mismatches.Count} of them have another shape "
                + "than the network's (loading without strict allows missing and extra keys, never a weight of another "
                + $"shape; nothing was copied):{separator}"
                + string.Join(separator, First(mismatches, mismatches.Count, "shape mismatch ")), nameof(module));
        else if (loaded.Count == 0)
            throw new ArgumentException($"No weight in '{Source}' fits {module.GetName()}: the state_dict names differ "
                + $"entirely. First differences: {string.Join("; ", missing.Take(5))}.", nameof(module));

        using (no_grad())
            foreach (string key in loaded)
                target[key].copy_(source[key]);
        return new PretrainedWeightsReport(Source, loaded, skipped, missing, replaceHead ? head : null);
    }

    private static string Shape(Tensor t) => string.Join(", ", t.shape);

    /// <summary>Frees the weights' native memory.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_tensors != null)
            foreach (var tensor in _tensors.Values)
                tensor.Dispose();
    }
}
