using MlNetCnn;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Learnable synthetic images held in memory: every class has a random template and each image is that template,
/// randomly brightened and shifted by up to two pixels, plus noise; values lie in [0, 1] like ExtractPixels output
/// scaled by 1/255.
/// </summary>
internal sealed class SyntheticImages
{
    private SyntheticImages(ImageShape shape, int classes, float[] pixels, int[] labels)
    {
        Shape = shape;
        Classes = classes;
        Pixels = pixels;
        Labels = labels;
    }

    public ImageShape Shape { get; }

    public int Classes { get; }

    /// <summary>Count × C × H × W values, image after image.</summary>
    public float[] Pixels { get; }

    /// <summary>The class of each image, 0 .. Classes − 1.</summary>
    public int[] Labels { get; }

    public int Count => Labels.Length;

    public int Size => Shape.Channels * Shape.Height * Shape.Width;

    public static SyntheticImages Create(ImageShape shape, int count, int classes, int seed)
    {
        var random = new Random(seed);
        int size = shape.Channels * shape.Height * shape.Width;
        var templates = new float[classes][];
        for (int c = 0; c < classes; c++)
        {
            templates[c] = new float[size];
            for (int i = 0; i < size; i++)
                templates[c][i] = random.NextSingle();
        }
        var pixels = new float[(long)count * size];
        var labels = new int[count];
        for (int n = 0; n < count; n++)
        {
            int label = n % classes;
            labels[n] = label;
            float gain = 0.5f + 0.3f * random.NextSingle();
            int dy = random.Next(-2, 3), dx = random.Next(-2, 3);
            var image = pixels.AsSpan(n * size, size);
            for (int ch = 0; ch < shape.Channels; ch++)
            {
                for (int y = 0; y < shape.Height; y++)
                {
                    int sy = Math.Clamp(y + dy, 0, shape.Height - 1);
                    for (int x = 0; x < shape.Width; x++)
                    {
                        int sx = Math.Clamp(x + dx, 0, shape.Width - 1);
                        float value = gain * templates[label][(ch * shape.Height + sy) * shape.Width + sx] + 0.4f * random.NextSingle();
                        image[(ch * shape.Height + y) * shape.Width + x] = Math.Min(1f, value);
                    }
                }
            }
        }
        // Shuffle so that consecutive rows are not in class order.
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        var shuffledPixels = new float[pixels.Length];
        var shuffledLabels = new int[count];
        for (int n = 0; n < count; n++)
        {
            pixels.AsSpan(order[n] * size, size).CopyTo(shuffledPixels.AsSpan(n * size, size));
            shuffledLabels[n] = labels[order[n]];
        }
        return new SyntheticImages(shape, classes, shuffledPixels, shuffledLabels);
    }

    /// <summary>The first <paramref name="count"/> images.</summary>
    public SyntheticImages Take(int count)
    {
        count = Math.Min(count, Count);
        return new SyntheticImages(Shape, Classes, Pixels.AsSpan(0, count * Size).ToArray(), Labels.AsSpan(0, count).ToArray());
    }
}
