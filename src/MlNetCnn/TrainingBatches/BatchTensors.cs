using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Two preallocated tensors (images and labels) that every batch is written into, without per-batch allocations:
/// a batch source writes straight into <see cref="Pixels"/> and <see cref="Labels"/> (and each image's source row into
/// <see cref="Rows"/>), the loop takes the first rows.
/// </summary>
internal sealed class BatchTensors : IDisposable
{
    private readonly Tensor _images;
    private readonly Tensor _labels;
    private readonly int[] _rows;

    public BatchTensors(int capacity, ImageShape shape)
    {
        Capacity = capacity;
        Shape = shape;
        using (NewDisposeScope())
        {
            _images = empty(capacity, shape.Channels, shape.Height, shape.Width).DetachFromDisposeScope();
            _labels = empty(capacity, dtype: int64).DetachFromDisposeScope();
        }
        _rows = new int[capacity];
    }

    public int Capacity { get; }

    public ImageShape Shape { get; }

    /// <summary>Capacity × C × H × W values, image after image, in the image tensor's own memory.</summary>
    public Span<float> Pixels => MemoryMarshal.Cast<byte, float>(_images.bytes);

    /// <summary>The zero-based class of each image, in the label tensor's own memory.</summary>
    public Span<long> Labels => MemoryMarshal.Cast<byte, long>(_labels.bytes);

    /// <summary>
    /// Which row of its source each image is (its index among the source's images, whatever the shuffle), so a
    /// per-image choice such as the alternating flip's base bit follows the image, not its position in the batch.
    /// </summary>
    public Span<int> Rows => _rows;

    /// <summary>The first <paramref name="count"/> images and labels (the tensors themselves when the batch is full).</summary>
    public (Tensor Images, Tensor Labels) Take(int count)
        => count == Capacity ? (_images, _labels) : (_images.narrow(0, 0, count), _labels.narrow(0, 0, count));

    public void Dispose()
    {
        _images.Dispose();
        _labels.Dispose();
    }
}
