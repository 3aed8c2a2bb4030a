using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Runs a network's forward pass on a batch laid out in memory the way the network computes fastest. libtorch's CPU
/// convolutions (oneDNN) work in channels-last (NHWC) memory: handed the usual planar (NCHW) batch, each convolution
/// reorders its input and output. A built-in network gets its batch rearranged to channels-last once (same
/// [N, C, H, W] shape, same values), and the layout then flows through its layers; training steps ran about a fifth
/// faster and scoring more (the benchmark <c>zoo --layout both</c> measures it per architecture).
/// A user's network keeps planar batches: its code may <c>view</c> a convolution's output, which needs planar memory.
/// </summary>
internal sealed class NetworkCall
{
    private readonly nn.Module<Tensor, Tensor> _module;

    public NetworkCall(nn.Module<Tensor, Tensor> module, bool channelsLast)
    {
        _module = module;
        ChannelsLast = channelsLast;
    }

    /// <summary>Channels-last batches for the built-in architectures on the CPU (the layout measured to pay there), planar ones otherwise.</summary>
    public static NetworkCall For(nn.Module<Tensor, Tensor> module, CnnArchitecture architecture, Device device)
        => new(module, architecture.ComputesOnChannelsLastMemory && device.type == DeviceType.CPU);

    /// <summary>Whether <see cref="Forward"/> hands the network channels-last batches.</summary>
    public bool ChannelsLast { get; }

    /// <summary>The network's output for <paramref name="batch"/> [N, C, H, W].</summary>
    public Tensor Forward(Tensor batch) => _module.call(ChannelsLast && batch.dim() == 4 ? ToChannelsLast(batch) : batch);

    /// <summary>The same tensor with channels-last strides: the channel varies fastest in memory.</summary>
    private static Tensor ToChannelsLast(Tensor batch) => batch.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
}
