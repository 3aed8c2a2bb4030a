namespace MlNetCnn.Tests;

/// <summary>The in-memory cache keeps 8-bit pixels as bytes, returns exactly the floats it was given, and respects its budget.</summary>
public sealed class CompactImageStoreTests
{
    private static readonly ImageShape Shape = new(3, 4, 4);

    private static float[] Image(Func<int, int, float> value)
    {
        var pixels = new float[Shape.Size];
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = value(i / 16, i);
        return pixels;
    }

    private static float[] Read(CompactImageStore store, int index)
    {
        var pixels = new float[Shape.Size];
        store.CopyTo(index, pixels);
        return pixels;
    }

    [Fact]
    public void EightBitPixelsThroughAnyPerChannelScalingAreStoredAsBytesAndReadBackExactly()
    {
        var store = new CompactImageStore(Shape, long.MaxValue);
        var random = new Random(3);
        var images = new List<float[]>();
        float[] mean = [0.49f, 0.48f, 0.45f], std = [0.25f, 0.24f, 0.26f];
        for (int n = 0; n < 200; n++)
        {
            // As ExtractPixels (scale 1/255) then NormalizeImages compute them (255 levels here, so -0 is the 256th value and must stay -0).
            images.Add(Image((c, _) => (random.Next(255) * (1f / 255) - mean[c]) / std[c]));
            images[^1][0] = -0f;
            Assert.True(store.TryAdd(images[^1]));
        }
        Assert.True(store.IsBytes);
        Assert.Equal(200L * Shape.Size, store.Bytes);
        for (int n = 0; n < images.Count; n++)
            Assert.Equal(images[n].Select(BitConverter.SingleToInt32Bits), Read(store, n).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void MoreThan256ValuesInAChannelSwitchToFloatsWithoutLosingEarlierImages()
    {
        var store = new CompactImageStore(Shape, long.MaxValue);
        var first = Image((_, i) => i / 255f);
        Assert.True(store.TryAdd(first));
        Assert.True(store.IsBytes);
        var random = new Random(4);
        var images = new List<float[]> { first };
        for (int n = 0; n < 30; n++)
        {
            images.Add(Image((_, _) => (float)random.NextDouble()));
            Assert.True(store.TryAdd(images[^1]));
        }
        Assert.False(store.IsBytes);
        Assert.Equal(31L * Shape.Size * sizeof(float), store.Bytes);
        for (int n = 0; n < images.Count; n++)
            Assert.Equal(images[n], Read(store, n));
    }

    [Fact]
    public void AnImageBeyondTheBudgetIsRefused()
    {
        var store = new CompactImageStore(Shape, budgetBytes: 2L * Shape.Size);
        var image = Image((_, i) => i % 7 / 255f);
        Assert.True(store.TryAdd(image));
        Assert.True(store.TryAdd(image));
        Assert.False(store.TryAdd(image));
        Assert.Equal(2, store.Count);

        var floats = new CompactImageStore(Shape, budgetBytes: 3L * Shape.Size, allowBytes: false);
        Assert.False(floats.TryAdd(image)); // 4 bytes per value from the start
    }
}
