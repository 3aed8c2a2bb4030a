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

    public InputStandardization(float[] mean, float[] std)
    {
        if (mean.Length != std.Length)
            throw new ArgumentException("Mean and standard deviation need one value per channel.");
        Mean = mean;
        Std = std;
        if (mean.Any(m => m != 0) || std.Any(s => s != 1))
        {
            _mean = tensor(mean).reshape(1, mean.Length, 1, 1).DetachFromDisposeScope();
            _std = tensor(std).reshape(1, std.Length, 1, 1).DetachFromDisposeScope();
        }
    }

    public float[] Mean { get; }

    public float[] Std { get; }

    public static InputStandardization Identity(int channels)
        => new(new float[channels], Enumerable.Repeat(1f, channels).ToArray());

    /// <summary>Per-channel mean and standard deviation of the images (a standard deviation of 0 becomes 1).</summary>
    public static InputStandardization Fit(InMemoryImages images)
    {
        int channels = images.Shape.Channels, plane = images.Shape.Height * images.Shape.Width;
        var sum = new double[channels];
        var sumOfSquares = new double[channels];
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            for (int c = 0; c < channels; c++)
            {
                double s = 0, q = 0;
                foreach (float v in image.Slice(c * plane, plane))
                {
                    s += v;
                    q += (double)v * v;
                }
                sum[c] += s;
                sumOfSquares[c] += q;
            }
        }
        double n = (double)images.Count * plane;
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double m = sum[c] / n;
            double deviation = Math.Sqrt(Math.Max(0, sumOfSquares[c] / n - m * m));
            mean[c] = (float)m;
            std[c] = deviation > 1e-8 ? (float)deviation : 1f;
        }
        return new InputStandardization(mean, std);
    }

    /// <summary>Returns the standardized batch (a new tensor, or the input itself when this is the identity).</summary>
    public Tensor Apply(Tensor batch) => _mean is null ? batch : (batch - _mean).div_(_std!);

    public void Dispose()
    {
        _mean?.Dispose();
        _std?.Dispose();
    }
}
