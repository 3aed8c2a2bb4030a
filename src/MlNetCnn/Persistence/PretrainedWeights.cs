using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Pretrained network weights to start training from (<see cref="CnnTrainerOptions.InitialWeights"/>) or to load into
/// a network from <see cref="CnnArchitecture.CreateModule"/>: PyTorch state_dict files (<c>.pt</c>, <c>.pth</c>),
/// <c>.safetensors</c> and ONNX models. Weights match the network's layers by torchvision's state_dict names; a
/// classifier head of another class count starts fresh. Files are validated before anything is allocated: a damaged
/// or forged file is an <see cref="InvalidDataException"/> naming it. Dispose to free the tensors.
/// </summary>
public sealed class PretrainedWeights : IDisposable
{
    private readonly Dictionary<string, Tensor>? _tensors;
    private readonly Func<nn.Module, Dictionary<string, Tensor>>? _mapOnto;

    private PretrainedWeights(string source, Dictionary<string, Tensor>? tensors, Func<nn.Module, Dictionary<string, Tensor>>? mapOnto)
    {
        Source = source;
        _tensors = tensors;
        _mapOnto = mapOnto;
    }

    /// <summary>Where the weights came from (a path, or the package's name).</summary>
    public string Source { get; }

    /// <summary>The weights' names (state_dict keys), or empty when they are named only once mapped onto a network (ONNX).</summary>
    public IReadOnlyCollection<string> Keys => (IReadOnlyCollection<string>?)_tensors?.Keys ?? [];

    /// <summary>
    /// Reads weights from <paramref name="path"/>: <c>.pt</c>/<c>.pth</c>/<c>.bin</c> (a PyTorch state_dict saved with
    /// <c>torch.save</c>), <c>.safetensors</c>, or <c>.onnx</c>.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is damaged, truncated or not of the format its extension says.</exception>
    /// <exception cref="NotSupportedException">The extension is none of the above.</exception>
    public static PretrainedWeights FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"The weights file '{path}' does not exist.", path);
        Platform.TorchRuntime.EnsureInitialized();
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".pt" or ".pth" or ".bin" => new PretrainedWeights(path, PyTorchStateDictFile.Read(path), null),
            ".safetensors" => new PretrainedWeights(path, SafeTensorsFile.Read(path), null),
            string other => throw new NotSupportedException($"'{path}': weights files ending in '{other}' are not read; use .pt/.pth (PyTorch state_dict) or .safetensors."),
        };
    }

    /// <summary>
    /// Copies the weights into <paramref name="module"/> by state_dict name. The classifier head (the network's last
    /// layer with parameters) is left fresh when the file's head has another shape (another class count) or is absent.
    /// </summary>
    /// <param name="module">A network, e.g. from <see cref="CnnArchitecture.CreateModule"/>.</param>
    /// <param name="strict">When true, every weight of the network except the head must come from the file and every
    /// weight of the file must fit the network; otherwise nothing is copied and the exception lists the differences.
    /// When false, what fits is copied and the rest is reported.</param>
    /// <returns>Which keys were loaded, skipped (with the reason) and missing.</returns>
    /// <exception cref="ArgumentException">A weight's shape differs from the network's (keys and both shapes named), or, in strict mode, keys are missing or left over.</exception>
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
                skipped[key] = $"shape [{Shape(value)}] does not fit the network's [{Shape(tensor)}]";
                continue;
            }
            loaded.Add(key);
        }
        foreach (string key in source.Keys.Where(k => !target.ContainsKey(k)))
            skipped[key] = "the network has no such weight";

        if (strict)
        {
            var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
            int count = mismatches.Count + missing.Count + unexpected.Count;
            // At most 15 of each kind, so a wholly different network still shows every kind of difference.
            static IEnumerable<string> First(IEnumerable<string> items, int total, string prefix)
                => items.Take(15).Select(i => prefix + i).Concat(total > 15 ? [$"{prefix}... ({total - 15} more)"] : []);
            if (count > 0)
                throw new ArgumentException(
                    $"The weights in '{Source}' do not fit {module.GetName()} ({count} differences; strict loading copies nothing then):{Environment.NewLine}  " +
                    string.Join(Environment.NewLine + "  ", First(mismatches, mismatches.Count, "shape mismatch ")
                        .Concat(First(missing, missing.Count, "missing from the file: ")).Concat(First(unexpected, unexpected.Count, "not in the network: "))), nameof(module));
        }
        else if (loaded.Count == 0)
            throw new ArgumentException($"No weight in '{Source}' fits {module.GetName()}: the state_dict names or shapes differ entirely. First differences: {string.Join("; ", mismatches.Concat(missing).Take(5))}.", nameof(module));

        using (no_grad())
            foreach (string key in loaded)
                target[key].copy_(source[key]);
        return new PretrainedWeightsReport(Source, loaded, skipped, missing, replaceHead ? head : null);
    }

    private static string Shape(Tensor t) => string.Join(", ", t.shape);

    private bool _disposed;

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
