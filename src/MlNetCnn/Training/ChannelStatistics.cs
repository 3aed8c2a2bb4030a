namespace MlNetCnn;

/// <summary>Accumulates per-channel mean and standard deviation over planar CHW images (in double precision).</summary>
internal sealed class ChannelStatistics(ImageShape shape)
{
    private readonly double[] _sum = new double[shape.Channels];
    private readonly double[] _sumOfSquares = new double[shape.Channels];
    private long _images;

    public void Add(ReadOnlySpan<float> image)
    {
        int plane = shape.Height * shape.Width;
        for (int c = 0; c < shape.Channels; c++)
        {
            double s = 0, q = 0;
            foreach (float v in image.Slice(c * plane, plane))
            {
                s += v;
                q += (double)v * v;
            }
            _sum[c] += s;
            _sumOfSquares[c] += q;
        }
        _images++;
    }

    public float[] Mean() => Enumerable.Range(0, shape.Channels).Select(c => (float)(_sum[c] / Count)).ToArray();

    /// <summary>Population standard deviation per channel; a constant channel gets 1 so dividing by it is harmless.</summary>
    public float[] StandardDeviation() => Enumerable.Range(0, shape.Channels).Select(c =>
    {
        double mean = _sum[c] / Count;
        double deviation = Math.Sqrt(Math.Max(0, _sumOfSquares[c] / Count - mean * mean));
        return deviation > 1e-8 ? (float)deviation : 1f;
    }).ToArray();

    private double Count => Math.Max(1.0, (double)_images * shape.Height * shape.Width);
}
