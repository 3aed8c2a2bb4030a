using SkiaSharp;

namespace MlNetCnn.Tests;

/// <summary>
/// Truncated images (issue 28): a PNG without its IEND chunk or a JPEG without its end-of-image marker is found from
/// the file's last bytes, refused by <see cref="ImageFolder"/> by default naming the file, and skipped under
/// <see cref="ImageValidation.Skip"/>; data after the end (as phones append to photos) is accepted, as PIL does.
/// </summary>
public sealed class TruncatedImageTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static byte[] Digit(int seed, int side = 28)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, side * side).Select(_ => (byte)random.Next(256))];
    }

    private static byte[] Jpeg(int seed, int side = 64)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(side, side);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)random.Next(256), (byte)(x * 4), (byte)(y * 4)));
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    /// <summary>root/a and root/b with two good PNGs each, and <paramref name="name"/> holding <paramref name="bytes"/> in root/b.</summary>
    private (string Root, string File) Folder(string name, byte[] bytes)
    {
        string root = _temp.Combine("root");
        foreach (string label in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(root, label));
            for (int i = 0; i < 2; i++)
                DatasetFiles.WritePng(Path.Combine(root, label, $"good{i}.png"), 28, 28, Digit(i), rgb: false);
        }
        string file = Path.Combine(root, "b", name);
        File.WriteAllBytes(file, bytes);
        return (root, file);
    }

    [Fact]
    public void APngCutTo161BytesIsRefusedByDefaultAndSkippedOnRequest()
    {
        byte[] png = File.ReadAllBytes(DatasetFiles.WritePng(_temp.Combine("whole.png"), 28, 28, Digit(7), rgb: false));
        var (root, cut) = Folder("cut.png", png[..161]);

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.List(root));
        Assert.Contains($"'{cut}'", error.Message);
        Assert.Contains("IEND", error.Message);
        Assert.Throws<InvalidDataException>(() => ImageFolder.List(root, validation: ImageValidation.Throw));

        var listing = ImageFolder.List(root, validation: ImageValidation.Skip);
        Assert.Equal([cut], listing.SkippedFiles);
        Assert.Equal(4, listing.Count);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void AJpegWithoutItsEndMarkerIsRefusedByDefaultAndSkippedOnRequest(double kept)
    {
        byte[] jpeg = Jpeg(3);
        var (root, cut) = Folder("cut.jpg", jpeg[..(int)(jpeg.Length * kept)]);

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.List(root));
        Assert.Contains($"'{cut}'", error.Message);
        Assert.Contains("end-of-image", error.Message);

        Assert.Equal([cut], ImageFolder.List(root, validation: ImageValidation.Skip).SkippedFiles);
    }

    [Theory]
    [InlineData("jpg", 16)]
    [InlineData("jpg", 3_000_000)]
    [InlineData("png", 16)]
    [InlineData("png", 100_000)]
    public void DataAfterTheEndIsAccepted(string format, int trailing)
    {
        // Phones append megabytes after a photo's end-of-image (motion photos, Samsung's trailer); PIL reads them.
        byte[] image = format == "jpg" ? Jpeg(5)
            : File.ReadAllBytes(DatasetFiles.WritePng(_temp.Combine("whole.png"), 28, 28, Digit(5), rgb: false));
        byte[] tail = [.. Enumerable.Range(0, trailing).Select(i => (byte)(i * 31 % 251))];
        var (root, file) = Folder("padded." + format, [.. image, .. tail]);

        Assert.Contains(file, ImageFolder.List(root).Select(r => r.ImagePath));
        Assert.Contains(file, ImageFolder.List(root, validation: ImageValidation.Throw).Select(r => r.ImagePath));
    }

    [Fact]
    public void TheExamplesImagesAreAllWhole()
    {
        string data = Path.Combine(ConsumerAppFixture.FindRepositoryRoot(), "examples", "MnistFromFolders", "data");
        string[] files = Directory.GetFiles(data, "*.png", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        Assert.Equal(files.Length, ImageFolder.List(data).Count);
    }
}
