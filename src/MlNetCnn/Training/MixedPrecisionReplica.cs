using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// bfloat16 mixed precision for training steps (<see cref="TrainingPrecision"/>). TorchSharp has no autocast, so a second
/// instance of the network computes the steps: its convolution and linear weights are bfloat16, its batch norms float32
/// (libtorch normalizes bfloat16 activations with float32 weights and statistics). Before each step it takes the
/// network's current weights, statistics, frozen flags and training modes; after the backward pass its gradients go to
/// the network's float32 parameters, which the optimizer updates, and its batch-norm statistics go back. Everything
/// else (optimizer, averaging, checkpoints, validation, the returned model) sees only the float32 network.
/// </summary>
internal sealed class MixedPrecisionReplica : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _replica;
    private readonly NetworkCall _call;
    private readonly (Parameter Master, Parameter Copy)[] _parameters;
    private readonly (Tensor Master, Tensor Copy)[] _buffers;
    private readonly (nn.Module Master, nn.Module Copy)[] _modules;

    private MixedPrecisionReplica(nn.Module<Tensor, Tensor> master, nn.Module<Tensor, Tensor> replica, CnnArchitecture architecture, Device device)
    {
        _replica = replica;
        foreach (var layer in replica.modules())
        {
            if (layer is Conv2d or Linear)
                layer.to(ScalarType.BFloat16);
        }
        replica.to(device);
        _call = NetworkCall.For(replica, architecture, device);
        _parameters = Pair(master.named_parameters(), replica.named_parameters(), "parameter");
        _buffers = Pair(master.named_buffers().Select(b => (b.name, (Tensor)b.buffer)),
            replica.named_buffers().Select(b => (b.name, (Tensor)b.buffer)), "buffer");
        _modules = Pair(master.named_modules(), replica.named_modules(), "layer");
    }

    /// <summary>
    /// The replica for a run with <paramref name="precision"/>, or null when the steps compute in float32: as asked, or
    /// because bfloat16 would not pay or not apply here (the log says why).
    /// </summary>
    /// <param name="master">The float32 network being trained.</param>
    /// <param name="createNetwork">Creates another instance of the same architecture at the same input and class count.</param>
    /// <param name="precision">The requested precision.</param>
    /// <param name="architecture">The network's architecture: the built-in ones qualify.</param>
    /// <param name="device">Where the network trains: the CPU qualifies.</param>
    /// <param name="log">Receives one line saying which precision the steps use and, for float32 against the request, why.</param>
    public static MixedPrecisionReplica? Create(nn.Module<Tensor, Tensor> master, Func<nn.Module<Tensor, Tensor>> createNetwork,
        TrainingPrecision precision, CnnArchitecture architecture, Device device, Action<string> log)
    {
        if (precision == TrainingPrecision.Float32)
        {
            log("precision: float32.");
            return null;
        }
        string? reason = device.type != DeviceType.CPU ? $"device {device} is not the CPU"
            : architecture.IsCustom ? $"{architecture.Name} is a custom architecture (its code may mix float32 tensors into the computation)"
            : precision == TrainingPrecision.MixedBFloat16WhereNative && !Platform.BFloat16Instructions.Supported
            ? "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX-BF16)"
            : precision == TrainingPrecision.MixedBFloat16WhereNative && !Platform.TorchRuntime.UseOneDnn ? "libtorch's oneDNN kernels are off"
            : null;
        if (reason != null)
        {
            log($"{precision} requested, training in float32: {reason}.");
            return null;
        }
        var replica = createNetwork();
        try
        {
            var created = new MixedPrecisionReplica(master, replica, architecture, device);
            log("mixed precision: convolutions and linear layers train in "
                + $"bfloat16{(Platform.BFloat16Instructions.Supported ? "" : " (emulated: this CPU has no bfloat16 instructions)")}; weights, "
                + "optimizer and batch norms stay float32.");
            return created;
        }
        catch
        {
            replica.Dispose();
            throw;
        }
    }

    /// <summary>The second instance of the network, which computes the steps.</summary>
    public nn.Module<Tensor, Tensor> Network => _replica;

    /// <summary>
    /// The network's float32 logits for <paramref name="batch"/>, computed by the replica with the network's current
    /// weights; the backward pass then reaches the replica's parameters (see <see cref="CopyGradientsToMaster"/>).
    /// </summary>
    public Tensor Forward(Tensor batch)
    {
        using (no_grad())
        {
            foreach (var (master, copy) in _parameters)
            {
                copy.copy_(master);
                copy.requires_grad = master.requires_grad;
                copy.grad = null;
            }
            foreach (var (master, copy) in _buffers)
                copy.copy_(master);
        }
        // named_modules lists every layer before its sublayers, and train() recurses: set in order, each ends as its twin.
        foreach (var (master, copy) in _modules)
            copy.train(master.training);
        return _call.Forward(batch.to(ScalarType.BFloat16)).to(ScalarType.Float32);
    }

    /// <summary>After the backward pass: the gradients as float32 on the network's parameters, and the batch-norm
    /// statistics the step updated.</summary>
    public void CopyGradientsToMaster()
    {
        // Setting .grad shares the tensor with libtorch: the scope frees only this side's handles.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (master, copy) in _parameters)
        {
            if (copy.grad is not { } gradient)
                continue;
            if (master.grad is { } existing)
                existing.copy_(gradient);
            else
                master.grad = gradient.to(ScalarType.Float32);
        }
        foreach (var (master, copy) in _buffers)
            master.copy_(copy);
    }

    private static (TMaster, TMaster)[] Pair<TMaster>(IEnumerable<(string name, TMaster item)> masters,
        IEnumerable<(string name, TMaster item)> copies, string what)
    {
        var copyByName = copies.ToDictionary(c => c.name, c => c.item, StringComparer.Ordinal);
        var pairs = masters.Select(m => copyByName.TryGetValue(m.name, out var copy)
            ? (m.item, copy)
            : throw new InvalidOperationException($"The network's {what} '{m.name}' has no twin in a second instance "
                + "of the same architecture: the architecture must create the same layers every time.")).ToArray();
        if (pairs.Length != copyByName.Count)
            throw new InvalidOperationException($"A second instance of the architecture has {copyByName.Count} {what}s "
                + $"where the network has {pairs.Length}: the architecture must create the same layers every time.");
        return pairs;
    }

    public void Dispose() => _replica.Dispose();
}
