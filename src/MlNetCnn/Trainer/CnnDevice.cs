namespace MlNetCnn;

/// <summary>Where the network trains and scores: the CPU, or a CUDA GPU when MlNetCnn is built with a CUDA backend.</summary>
public sealed record CnnDevice
{
    private CnnDevice(bool isCuda, int index)
    {
        IsCuda = isCuda;
        Index = index;
    }

    /// <summary>The CPU (the default).</summary>
    public static CnnDevice Cpu { get; } = new(false, 0);

    /// <summary>CUDA GPU number <paramref name="index"/>. Needs the CUDA backend: build with
    /// <c>-p:TorchBackend=cuda-linux</c> (or <c>cuda-windows</c>).</summary>
    /// <param name="index">The GPU's number, from 0.</param>
    /// <returns>The device.</returns>
    public static CnnDevice Cuda(int index = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new CnnDevice(true, index);
    }

    /// <summary>True for a CUDA device.</summary>
    public bool IsCuda { get; }

    /// <summary>The CUDA device number.</summary>
    public int Index { get; }

    /// <inheritdoc />
    public override string ToString() => IsCuda ? $"cuda:{Index}" : "cpu";
}
