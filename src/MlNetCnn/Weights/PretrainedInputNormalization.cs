using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// The input normalization pretrained weights expect: (pixel − mean) / standard deviation, with the mean per channel or
/// per pixel (a mean image, resized to the training images), in RGB order and on the 0–1 pixel scale. When training
/// starts from <see cref="CnnTrainerOptions.InitialWeights"/>, the trainer applies it inside the model (saved with it)
/// instead of the training data's own statistics; pixels extracted on the 0–255 scale (any value above 1.5) are
/// recognised and the normalization scaled to match.
/// </summary>
public sealed class PretrainedInputNormalization
{
    private readonly float[] _mean;
    private readonly float[] _std;
    private readonly int _meanHeight;
    private readonly int _meanWidth;

    private PretrainedInputNormalization(string description, float[] mean, float[] std, int meanHeight, int meanWidth)
    {
        Description = description;
        _mean = mean;
        _std = std;
        _meanHeight = meanHeight;
        _meanWidth = meanWidth;
    }

    /// <summary>What the normalization is, for logs.</summary>
    public string Description { get; }

    /// <summary>Channels it normalizes.</summary>
    public int Channels => _std.Length;

    /// <summary>torchvision's ImageNet normalization: mean (0.485, 0.456, 0.406), standard deviation (0.229, 0.224, 0.225).</summary>
    public static PretrainedInputNormalization ImageNet { get; } = PerChannel([0.485f, 0.456f, 0.406f],
        [0.229f, 0.224f, 0.225f], "ImageNet mean/std (torchvision)");

    /// <summary>A per-channel normalization on the 0–1 pixel scale.</summary>
    /// <param name="mean">One finite mean per channel.</param>
    /// <param name="standardDeviation">One positive, finite standard deviation per channel.</param>
    /// <param name="description">A name for logs.</param>
    /// <exception cref="ArgumentException">The lengths differ or are 0, a mean is NaN or infinite, or a standard
    /// deviation is not positive, is infinite, or so small that dividing by it overflows.</exception>
    public static PretrainedInputNormalization PerChannel(float[] mean, float[] standardDeviation, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(standardDeviation);
        if (mean.Length == 0 || mean.Length != standardDeviation.Length)
            throw new ArgumentException("Give one mean and one positive standard deviation per channel.");
        Check(mean, standardDeviation);
        return new(description ?? $"mean ({string.Join(", ", mean)}), std ({string.Join(", ", standardDeviation)})",
            mean.ToArray(), standardDeviation.ToArray(), 1, 1);
    }

    /// <summary>A per-pixel mean image (C×H×W, 0–1 scale, RGB) and a per-channel standard deviation.</summary>
    internal static PretrainedInputNormalization MeanImage(float[] meanImage, int height, int width, float[] standardDeviation, string description)
    {
        Check(meanImage, standardDeviation);
        return new(description, meanImage, standardDeviation, height, width);
    }

    // A non-finite value here would turn every input, and so every score, into NaN.
    private static void Check(float[] mean, float[] standardDeviation)
    {
        int badMean = Array.FindIndex(mean, m => !float.IsFinite(m));
        if (badMean >= 0)
            throw new ArgumentException(
                $"The input normalization's mean is {mean[badMean]} at {badMean}; every mean must be finite.", nameof(mean));
        // Inputs are divided by σ: below about 3e-39 that overflows even for a pixel difference of 1.
        int badStd = Array.FindIndex(standardDeviation, s => !(s > 0) || !float.IsFinite(s) || !float.IsFinite(1 / s));
        if (badStd >= 0)
            throw new ArgumentException(
                $"The input normalization's standard deviation is {standardDeviation[badStd]} for channel {badStd}; every "
                + "standard deviation must be positive and finite, and at least 3e-39 (1/σ must be finite).",
                nameof(standardDeviation));
    }

    /// <summary>The standardization for images of <paramref name="shape"/> whose pixels run up to <paramref name="pixelScale"/> (1 or 255).</summary>
    internal InputStandardization Create(ImageShape shape, float pixelScale)
    {
        int channels = Channels;
        if (shape.Channels != channels && shape.Channels != 1)
            throw new ArgumentException($"The pretrained weights expect {channels}-channel images but the input has {shape.Channels} channels.");
        float[] std = _std.Select(s => s * pixelScale).ToArray();
        float[] mean;
        if (_meanHeight == 1 && _meanWidth == 1)
            mean = _mean.Select(m => m * pixelScale).ToArray();
        else
        {
            using var scope = NewDisposeScope();
            var image = tensor(_mean).reshape(1, channels, _meanHeight, _meanWidth);
            var resized = nn.functional.interpolate(image, [shape.Height, shape.Width], mode: InterpolationMode.Bilinear, align_corners: false);
            mean = (resized * pixelScale).contiguous().data<float>().ToArray();
        }
        if (shape.Channels == 1 && channels != 1)
        {
            // Grayscale input into a colour network: the channels' average (the first convolution sees the same image thrice).
            int plane = mean.Length / channels;
            mean = Enumerable.Range(0, plane)
                .Select(i => Enumerable.Range(0, channels).Average(c => mean[c * plane + i])).Select(v => (float)v)
                .ToArray();
            std = [std.Average()];
        }
        return new InputStandardization(mean, std, shape);
    }

    /// <summary>1 when every pixel is at most 1.5 (images scaled to 0–1), else 255.</summary>
    /// <remarks>Reads the images in order until the first pixel above 1.5 (streamed images: decoded again).</remarks>
    internal static float PixelScale(ITrainingBatchSource images, ImageShape shape, CancellationToken cancellation)
    {
        using var batch = new BatchTensors(Math.Min(256, images.Count), shape);
        using var stream = images.Read(null, batch, cancellation);
        for (int count; (count = stream.Next()) > 0;)
        {
            foreach (float v in batch.Pixels[..(count * shape.Size)])
            {
                if (v > 1.5f)
                    return 255f;
            }
        }
        return 1f;
    }

    /// <inheritdoc />
    public override string ToString() => Description;
}
