using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Applies <see cref="ImageAugmentationOptions"/> to a whole training batch [N, C, H, W] with tensor operations; the
/// per-image random parameters come from a <see cref="Random"/> the trainer seeds from its seed and step, so runs are
/// reproducible and a resumed run draws exactly what an uninterrupted one would. Alternating flips depend on the
/// image's row, the epoch and <paramref name="seed"/> only, not on the shuffle.
/// </summary>
/// <param name="options">What to draw.</param>
/// <param name="seed">The trainer's seed, from which each image's alternating-flip bit is derived.</param>
internal sealed class ImageAugmenter(ImageAugmentationOptions options, int seed)
{
    internal const string AnnotationKind = "MlNetCnn.ImageAugmentation";

    public ImageAugmentationOptions Options => options;

    /// <summary>
    /// Checks the options against the image size before training, so a crop padding the image cannot hold fails with
    /// the column's name instead of inside libtorch at the first batch (reflection needs padding smaller than each side,
    /// and a zero padding as large as the image would yield crops of padding only).
    /// </summary>
    public static void CheckFits(ImageAugmentationOptions options, ImageShape shape, string columnName)
    {
        int smallest = Math.Min(shape.Height, shape.Width);
        if (options.CropPadding >= smallest)
            throw new ArgumentOutOfRangeException(nameof(options), options.CropPadding,
                $"The augmentation of column '{columnName}' pads crops by {options.CropPadding} pixels, but its " +
                $"images are {shape.Height}×{shape.Width}: " +
                $"CropPadding must be smaller than the image's smaller side ({smallest}); a few pixels (e.g. 4 for 32×32) is typical.");
    }

    /// <summary>Returns the augmented batch (new tensors in the caller's dispose scope; the input is not modified).</summary>
    /// <param name="batch">The images, [N, C, H, W].</param>
    /// <param name="random">The draws for this batch.</param>
    /// <param name="epoch">The one-based epoch (alternating flips mirror an image in every other epoch).</param>
    /// <param name="rows">Each image's row in the training data (<see cref="BatchTensors.Rows"/>).</param>
    public Tensor Apply(Tensor batch, Random random, int epoch, ReadOnlySpan<int> rows)
    {
        int n = (int)batch.shape[0], channels = (int)batch.shape[1], height = (int)batch.shape[2], width = (int)batch.shape[3];
        var x = batch;
        if (options.CropPadding > 0)
            x = RandomCrop(x, random, n, height, width);
        if (options.HorizontalFlipProbability > 0)
            x = where(Draw(random, n, options.HorizontalFlipProbability), x.flip(3), x);
        if (options.AlternateHorizontalFlips)
            x = where(AlternatingFlips(epoch, rows, n), x.flip(3), x);
        if (options.VerticalFlipProbability > 0)
            x = where(Draw(random, n, options.VerticalFlipProbability), x.flip(2), x);
        if (options.MaxRotationDegrees > 0 || options.MaxTranslation > 0)
            x = RandomAffine(x, random, n, channels, height, width);
        if (options.Brightness > 0)
            x = x * Factors(random, n, options.Brightness);
        if (options.Contrast > 0)
        {
            var mean = x.mean([1, 2, 3], keepdim: true);
            x = (x - mean) * Factors(random, n, options.Contrast) + mean;
        }
        if (options.Saturation > 0 && channels == 3)
        {
            var gray = (x[.., 0..1] * 0.299f) + (x[.., 1..2] * 0.587f) + (x[.., 2..3] * 0.114f);
            x = (x - gray) * Factors(random, n, options.Saturation) + gray;
        }
        if (options.ErasingProbability > 0)
            x = x * ErasingMask(random, n, height, width);
        return x;
    }

    private Tensor RandomCrop(Tensor x, Random random, int n, int height, int width)
    {
        int p = options.CropPadding;
        var padded = nn.functional.pad(x, [p, p, p, p],
            options.CropPaddingMode == CropPadding.Reflect ? PaddingModes.Reflect : PaddingModes.Constant);
        var crops = new Tensor[n];
        for (int i = 0; i < n; i++)
            crops[i] = padded[i].narrow(1, random.Next(2 * p + 1), height).narrow(2, random.Next(2 * p + 1), width);
        return stack(crops);
    }

    private Tensor RandomAffine(Tensor x, Random random, int n, int channels, int height, int width)
    {
        var theta = new float[n * 6];
        for (int i = 0; i < n; i++)
        {
            double angle = (random.NextDouble() * 2 - 1) * options.MaxRotationDegrees * Math.PI / 180;
            // affine_grid works in [-1, 1] coordinates, so a shift of a fraction f of the size is 2f.
            double dx = (random.NextDouble() * 2 - 1) * options.MaxTranslation * 2, dy = (random.NextDouble() * 2 - 1) * options.MaxTranslation * 2;
            float cos = (float)Math.Cos(angle), sin = (float)Math.Sin(angle);
            theta[6 * i] = cos;
            theta[6 * i + 1] = -sin;
            theta[6 * i + 2] = (float)dx;
            theta[6 * i + 3] = sin;
            theta[6 * i + 4] = cos;
            theta[6 * i + 5] = (float)dy;
        }
        var grid = nn.functional.affine_grid(tensor(theta).reshape(n, 2, 3).to(x.device), [n, channels, height, width], align_corners: false);
        return nn.functional.grid_sample(x, grid, align_corners: false);
    }

    private Tensor AlternatingFlips(int epoch, ReadOnlySpan<int> rows, int n)
    {
        if (rows.Length != n)
            throw new ArgumentException($"Alternating flips need the row of each of the {n} images; {rows.Length} were given.", nameof(rows));
        bool odd = epoch % 2 == 1;
        var flips = new bool[n];
        for (int i = 0; i < n; i++)
            flips[i] = IsFlippedFirst(rows[i]) == odd;
        return tensor(flips).reshape(n, 1, 1, 1);
    }

    /// <summary>The image's base bit: whether it is mirrored in the 1st, 3rd, … epoch (a hash of the seed and the row, about half true).</summary>
    internal bool IsFlippedFirst(int row)
    {
        // SplitMix64's finalizer: the bit is a fixed function of (seed, row), independent of any draw or batch order.
        ulong z = ((ulong)(uint)seed << 32 | (uint)row) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return ((z ^ (z >> 31)) >> 63) != 0;
    }

    private static Tensor Draw(Random random, int n, double probability)
        => tensor(Enumerable.Range(0, n).Select(_ => random.NextDouble() < probability).ToArray()).reshape(n, 1, 1, 1);

    private static Tensor Factors(Random random, int n, double strength)
        => tensor(Enumerable.Range(0, n).Select(_ => (float)(1 + (random.NextDouble() * 2 - 1) * strength)).ToArray()).reshape(n, 1, 1, 1);

    private Tensor ErasingMask(Random random, int n, int height, int width)
    {
        var mask = new float[n * height * width];
        Array.Fill(mask, 1f);
        for (int i = 0; i < n; i++)
        {
            if (random.NextDouble() >= options.ErasingProbability)
                continue;
            // Area 2-33% of the image, log-uniform aspect ratio 0.3-3.3 (torchvision's RandomErasing defaults).
            for (int attempt = 0; attempt < 10; attempt++)
            {
                double area = height * width * (0.02 + random.NextDouble() * 0.31);
                double ratio = Math.Exp(Math.Log(0.3) + random.NextDouble() * (Math.Log(3.3) - Math.Log(0.3)));
                int h = (int)Math.Round(Math.Sqrt(area * ratio)), w = (int)Math.Round(Math.Sqrt(area / ratio));
                if (h < 1 || w < 1 || h >= height || w >= width)
                    continue;
                int top = random.Next(height - h + 1), left = random.Next(width - w + 1);
                for (int r = top; r < top + h; r++)
                    Array.Fill(mask, 0f, (i * height + r) * width + left, w);
                break;
            }
        }
        return tensor(mask).reshape(n, 1, height, width);
    }
}
