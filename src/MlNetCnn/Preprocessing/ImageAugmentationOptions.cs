using System.Globalization;

namespace MlNetCnn;

/// <summary>How the border is filled when a random crop reaches past the image.</summary>
public enum CropPadding
{
    /// <summary>Zeros (PyTorch's RandomCrop default).</summary>
    Zero,
    /// <summary>The image mirrored at its border (reflect padding, common for CIFAR ResNets).</summary>
    Reflect,
}

/// <summary>
/// Random transformations applied to training images, a new draw for every image in every epoch (see
/// <see cref="ImageAugmentingEstimator"/>). All are off by default; <see cref="CropAndFlip"/> is the classic CIFAR recipe.
/// </summary>
public sealed class ImageAugmentationOptions
{
    /// <summary>Pad each side by this many pixels, then crop back to the original size at a random position (0: off).</summary>
    public int CropPadding { get; set; }

    /// <summary>How the crop's padding is filled.</summary>
    public CropPadding CropPaddingMode { get; set; } = MlNetCnn.CropPadding.Zero;

    /// <summary>Probability of mirroring an image left-right.</summary>
    public double HorizontalFlipProbability { get; set; }

    /// <summary>
    /// Mirrors images left-right in alternating epochs instead of at random (airbench's "alternating flip"): every
    /// training image gets a fixed random bit drawn from the trainer's seed and the image's row; in the 1st, 3rd, …
    /// epoch the image is mirrored when its bit is set, in the 2nd, 4th, … when it is not, so any two consecutive epochs
    /// show every image both ways. Use it instead of <see cref="HorizontalFlipProbability"/> (which must stay 0); the
    /// crop, translation and other augmentations are drawn as usual.
    /// </summary>
    public bool AlternateHorizontalFlips { get; set; }

    /// <summary>Probability of mirroring an image top-bottom.</summary>
    public double VerticalFlipProbability { get; set; }

    /// <summary>Rotate by an angle drawn uniformly from ±this many degrees (bilinear, zero fill).</summary>
    public double MaxRotationDegrees { get; set; }

    /// <summary>Shift by up to this fraction of the width and height in each direction.</summary>
    public double MaxTranslation { get; set; }

    /// <summary>Multiply pixel values by a factor drawn from [1 − x, 1 + x].</summary>
    public double Brightness { get; set; }

    /// <summary>Scale each image's deviation from its mean by a factor drawn from [1 − x, 1 + x].</summary>
    public double Contrast { get; set; }

    /// <summary>Scale colour images' deviation from their grayscale by a factor drawn from [1 − x, 1 + x] (3-channel images only).</summary>
    public double Saturation { get; set; }

    /// <summary>Probability of erasing (zeroing) a random rectangle of 2–33% of the image, aspect ratio 0.3–3.3 (Zhong et al.).</summary>
    public double ErasingProbability { get; set; }

    /// <summary>Random crop with <paramref name="padding"/> and horizontal flip with probability 0.5.</summary>
    /// <param name="padding">Pixels added on each side before a crop of the original size is taken at a random position.</param>
    /// <param name="mode">What the padding holds: zeros or the image reflected.</param>
    /// <returns>The options.</returns>
    public static ImageAugmentationOptions CropAndFlip(int padding = 4, CropPadding mode = MlNetCnn.CropPadding.Zero)
        => new() { CropPadding = padding, CropPaddingMode = mode, HorizontalFlipProbability = 0.5 };

    internal void Validate()
    {
        static void Probability(double value, string name)
        {
            if (!(value >= 0 && value <= 1))
                throw new ArgumentOutOfRangeException(name, value, $"ImageAugmentationOptions.{name} must be a probability in [0, 1].");
        }

        static void Strength(double value, string name, double max)
        {
            if (!(value >= 0 && value <= max))
                throw new ArgumentOutOfRangeException(name, value, $"ImageAugmentationOptions.{name} must be in [0, {max}].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(CropPadding);
        if (AlternateHorizontalFlips && HorizontalFlipProbability > 0)
            throw new ArgumentException(
                "ImageAugmentationOptions.AlternateHorizontalFlips decides every horizontal flip itself, so " +
                $"HorizontalFlipProbability must be 0 (it is {HorizontalFlipProbability}): " +
                "set one of the two.", nameof(AlternateHorizontalFlips));
        Probability(HorizontalFlipProbability, nameof(HorizontalFlipProbability));
        Probability(VerticalFlipProbability, nameof(VerticalFlipProbability));
        Probability(ErasingProbability, nameof(ErasingProbability));
        Strength(MaxRotationDegrees, nameof(MaxRotationDegrees), 180);
        Strength(MaxTranslation, nameof(MaxTranslation), 1);
        Strength(Brightness, nameof(Brightness), 1);
        Strength(Contrast, nameof(Contrast), 1);
        Strength(Saturation, nameof(Saturation), 1);
    }

    /// <summary>A stable text form, stored in the column annotation that carries the options to the trainer.</summary>
    /// <remarks>"altflip" is written only when set, so the text (and the training fingerprint of checkpoints) of
    /// options without it is unchanged.</remarks>
    internal string Serialize() => string.Join(";",
        new[]
        {
            $"crop={CropPadding}", $"cropmode={CropPaddingMode}", Pair("hflip", HorizontalFlipProbability), Pair("vflip", VerticalFlipProbability),
            Pair("rotate", MaxRotationDegrees), Pair("translate", MaxTranslation), Pair("brightness", Brightness), Pair("contrast", Contrast),
            Pair("saturation", Saturation), Pair("erase", ErasingProbability),
        }.Concat(AlternateHorizontalFlips ? ["altflip=1"] : []));

    private static string Pair(string key, double value) => $"{key}={value.ToString("R", CultureInfo.InvariantCulture)}";

    internal static ImageAugmentationOptions Parse(string text)
    {
        var values = text.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length == 2 ? p[1] : "");
        double D(string key) => values.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : 0;
        var options = new ImageAugmentationOptions
        {
            CropPadding = (int)D("crop"),
            CropPaddingMode = values.TryGetValue("cropmode", out var mode) ? Enum.Parse<CropPadding>(mode) : MlNetCnn.CropPadding.Zero,
            HorizontalFlipProbability = D("hflip"),
            AlternateHorizontalFlips = D("altflip") != 0,
            VerticalFlipProbability = D("vflip"),
            MaxRotationDegrees = D("rotate"),
            MaxTranslation = D("translate"),
            Brightness = D("brightness"),
            Contrast = D("contrast"),
            Saturation = D("saturation"),
            ErasingProbability = D("erase"),
        };
        options.Validate();
        return options;
    }
}
