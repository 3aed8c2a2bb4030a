using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>Weight initialization, copying weights between networks (fine-tuning) and freezing.</summary>
internal static class ModuleWeights
{
    public static void Initialize(nn.Module module, WeightInitialization initialization)
    {
        if (initialization == WeightInitialization.ArchitectureDefault)
            return;
        using var noGrad = no_grad();
        if (initialization == WeightInitialization.Identity)
        {
            foreach (var (_, layer) in module.named_modules())
            {
                if (layer is TorchSharp.Modules.Conv2d { groups: 1 } conv && conv.weight is { } weight && weight.shape[0] >= weight.shape[1])
                    SetIdentity(weight);
            }
            return;
        }
        foreach (var (_, layer) in module.named_modules())
        {
            if (layer is not (TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear))
                continue;
            foreach (var (name, parameter) in layer.named_parameters(recurse: false))
            {
                if (name == "bias")
                    nn.init.zeros_(parameter);
                else if (initialization == WeightInitialization.KaimingNormal)
                    nn.init.kaiming_normal_(parameter, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
                else
                    nn.init.xavier_uniform_(parameter);
            }
        }
    }

    // Filters 0..in-1 of an out × in × kh × kw weight become identity kernels: 1 at [i, i, kh / 2, kw / 2] (PyTorch's dirac_).
    private static void SetIdentity(Tensor weight)
    {
        long inChannels = weight.shape[1], centreRow = weight.shape[2] / 2, centreColumn = weight.shape[3] / 2;
        using var scope = NewDisposeScope();
        var identity = weight.narrow(0, 0, inChannels);
        identity.zero_();
        for (long i = 0; i < inChannels; i++)
            identity[i, i, centreRow, centreColumn] = 1f;
    }

    /// <summary>Copies every parameter and buffer of <paramref name="source"/> whose name and shape match; returns the names copied.</summary>
    public static HashSet<string> CopyMatching(nn.Module source, nn.Module target)
    {
        var copied = new HashSet<string>(StringComparer.Ordinal);
        var sourceState = source.state_dict();
        using var noGrad = no_grad();
        foreach (var (name, tensor) in target.state_dict())
        {
            if (sourceState.TryGetValue(name, out var value) && value.shape.SequenceEqual(tensor.shape) && value.dtype == tensor.dtype)
            {
                tensor.copy_(value);
                copied.Add(name);
            }
        }
        return copied;
    }

    /// <summary>
    /// Freezes the copied parameters, except those of the last layer with parameters (the classifier head), which is
    /// always trained so the network can adapt its output to the new data.
    /// </summary>
    public static int FreezeCopied(nn.Module module, ISet<string> copied)
    {
        string head = LastParameterizedLayer(module).Name;
        int frozen = 0;
        foreach (var (name, parameter) in module.named_parameters())
        {
            bool inHead = head.Length == 0 ? !name.Contains('.') : name.StartsWith(head + ".", StringComparison.Ordinal);
            if (copied.Contains(name) && !inHead)
            {
                parameter.requires_grad = false;
                frozen++;
            }
        }
        return frozen;
    }

    /// <summary>
    /// The layer that owns the network's last parameter in registration order (TorchSharp's named_parameters is
    /// depth-first): the classifier head in every zoo network.
    /// </summary>
    public static (string Name, nn.Module Module) LastParameterizedLayer(nn.Module module)
    {
        string last = module.named_parameters().Select(p => p.name).LastOrDefault()
            ?? throw new InvalidOperationException("The network has no parameters.");
        int dot = last.LastIndexOf('.');
        string path = dot < 0 ? "" : last[..dot];
        nn.Module layer = module;
        foreach (string part in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
            layer = layer.named_children().First(c => c.name == part).module;
        return (path, layer);
    }

    /// <summary>
    /// The names of the parameters and buffers holding NaN or infinite values (empty when all are finite). One
    /// isfinite pass per tensor and a single synchronisation, so it is cheap enough to run at every epoch's end.
    /// </summary>
    public static IReadOnlyList<string> NonFinite(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tensors = module.named_parameters().Select(p => (p.name, tensor: (Tensor)p.parameter))
            .Concat(module.named_buffers().Where(b => b.buffer.is_floating_point()).Select(b => (b.name, tensor: b.buffer))).ToList();
        if (tensors.Count == 0)
            return [];
        var finite = stack(tensors.Select(t => t.tensor.isfinite().all()).ToArray()).cpu();
        if (finite.all().item<bool>())
            return [];
        var flags = finite.data<bool>().ToArray();
        return tensors.Where((_, i) => !flags[i]).Select(t => t.name).ToList();
    }

    public static byte[] Serialize(nn.Module module)
    {
        using var stream = new MemoryStream();
        module.save(stream);
        return stream.ToArray();
    }

    public static void Deserialize(nn.Module module, byte[] weights)
    {
        using var stream = new MemoryStream(weights, writable: false);
        module.load(stream, strict: true);
    }
}
