using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// Decompression bombs: ImageFolder reads each image's header and refuses (or, with ImageValidation.Skip, skips) an
/// image declaring more pixels than the limit, naming the file, before anything is decoded.
/// </summary>
public sealed class ImagePixelLimitTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    private (string Root, string Bomb) FolderWithBomb(int side, string name = "root")
    {
        string root = _temp.Combine(name);
        foreach (string label in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(root, label));
            DatasetFiles.WritePng(Path.Combine(root, label, "good.png"), 4, 4, new byte[16], rgb: false);
        }
        string bomb = DatasetFiles.WriteOversizedPngHeader(Path.Combine(root, "b", "bomb.png"), side, side);
        Assert.True(new FileInfo(bomb).Length < 1000);
        return (root, bomb);
    }

    [Fact]
    public void TheDefaultPathRefusesABombNamingTheFile()
    {
        var (root, bomb) = FolderWithBomb(20_000);
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_ml, root));
        Assert.Contains($"'{bomb}'", error.Message);
        Assert.Contains("20000×20000", error.Message);
        Assert.Contains("maxImagePixels", error.Message);
    }

    [Fact]
    public void ValidationThrowRefusesABombNamingTheFile()
    {
        var (root, bomb) = FolderWithBomb(50_000);
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_ml, root, validation: ImageValidation.Throw));
        Assert.Contains($"'{bomb}'", error.Message);
        Assert.Contains("50000×50000", error.Message);
    }

    [Fact]
    public void ValidationSkipSkipsABomb()
    {
        var (root, bomb) = FolderWithBomb(50_000);
        var listing = ImageFolder.List(root, validation: ImageValidation.Skip);
        Assert.Equal([bomb], listing.SkippedFiles);
        Assert.Equal(2, listing.Count);
        Assert.DoesNotContain(listing, r => r.ImagePath == bomb);
    }

    [Fact]
    public void TheLimitIsAnOption()
    {
        string root = _temp.Combine("root");
        foreach (string label in new[] { "a", "b" })
            DatasetFiles.WriteOversizedPngHeader(Path.Combine(root, label, "wide.png"), 300, 200);
        Assert.Equal(2, ImageFolder.List(root).Count);
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.List(root, maxImagePixels: 50_000));
        Assert.Contains("60,000 pixels", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFolder.List(root, maxImagePixels: 0));

        // long.MaxValue turns the check off: even a bomb is listed (and left to the decoder).
        var (bombRoot, bomb) = FolderWithBomb(50_000, "unchecked");
        Assert.Contains(ImageFolder.List(bombRoot, maxImagePixels: long.MaxValue), r => r.ImagePath == bomb);
    }
}
