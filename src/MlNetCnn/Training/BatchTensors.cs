using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>Two preallocated tensors (images and labels) that each batch is copied into, without per-batch allocations.</summary>
internal sealed class BatchTensors : IDisposable
{
    private readonly Tensor _images;
    private readonly Tensor _labels;

    public BatchTensors(int capacity, ImageShape shape)
    {
        Capacity = capacity;
        using (NewDisposeScope())
        {
            _images = empty(capacity, shape.Channels, shape.Height, shape.Width).DetachFromDisposeScope();
            _labels = empty(capacity, dtype: int64).DetachFromDisposeScope();
        }
    }

    public int Capacity { get; }

    /// <summary>Copies the images and labels at <paramref name="indices"/>; returns views of the first indices.Length rows.</summary>
    public (Tensor Images, Tensor Labels) Fill(InMemoryImages data, ReadOnlySpan<int> indices)
    {
        int size = data.Shape.Size;
        var pixels = MemoryMarshal.Cast<byte, float>(_images.bytes);
        var labels = MemoryMarshal.Cast<byte, long>(_labels.bytes);
        for (int i = 0; i < indices.Length; i++)
        {
            data.Pixels.AsSpan(indices[i] * size, size).CopyTo(pixels.Slice(i * size, size));
            labels[i] = data.Labels[indices[i]];
        }
        return indices.Length == Capacity ? (_images, _labels) : (_images.narrow(0, 0, indices.Length), _labels.narrow(0, 0, indices.Length));
    }

    public void Dispose()
    {
        _images.Dispose();
        _labels.Dispose();
    }
}
