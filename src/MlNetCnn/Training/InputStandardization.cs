using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Per-channel (x − mean) / std applied to every batch, in training and in scoring, so a model never depends on how
/// its pixels were scaled. Identity when standardization is off.
/// </summary>
internal sealed class InputStandardization : IDisposable
{
    private readonly Tensor? _mean;
    private readonly Tensor? _std;

    /// <summary>Per-channel mean and std, or (with <paramref name="shape"/>) a per-pixel mean image of C×H×W values and
    /// a per-channel std.</summary>
    public InputStandardization(float[] mean, float[] std, ImageShape? shape = null)
    {
        bool perPixel = shape is { } s && mean.Length == s.Size && std.Length == s.Channels && s.Size != s.Channels;
        if (mean.Length != std.Length && !perPixel)
            throw new ArgumentException("Mean and standard deviation need one value per channel (or the mean one per pixel).");
        Mean = mean;
        Std = std;
        if (mean.Any(m => m != 0) || std.Any(s => s != 1))
        {
            using var scope = NewDisposeScope();
            _mean = (perPixel ? tensor(mean).reshape(1, shape!.Value.Channels, shape.Value.Height, shape.Value.Width)
                : tensor(mean).reshape(1, mean.Length, 1, 1)).DetachFromDisposeScope();
            _std = tensor(std).reshape(1, std.Length, 1, 1).DetachFromDisposeScope();
        }
    }

    public float[] Mean { get; }

    public float[] Std { get; }

    public static InputStandardization Identity(int channels)
        => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Per-channel mean and standard deviation of the images (a standard deviation of 0 becomes 1).</summary>
    /// <remarks>Reads the images once, in order (for streamed images, one extra decoding pass).</remarks>
    public static InputStandardization Fit(ITrainingBatchSource images, ImageShape shape, CancellationToken cancellation)
    {
        var statistics = new ChannelStatistics(shape);
        using (var batch = new BatchTensors(Math.Min(256, images.Count), shape))
        using (var stream = images.Read(null, batch, cancellation))
        {
            for (int count; (count = stream.Next()) > 0;)
            {
                for (int i = 0; i < count; i++)
                    statistics.Add(batch.Pixels.Slice(i * shape.Size, shape.Size));
            }
        }
        return new InputStandardization(statistics.Mean(), statistics.StandardDeviation());
    }

    /// <summary>Returns the standardized batch (a new tensor, or the input itself when this is the identity).</summary>
    public Tensor Apply(Tensor batch) => _mean is null ? batch : (batch - _mean).div_(_std!);

    public void Dispose()
    {
        _mean?.Dispose();
        _std?.Dispose();
    }
}
