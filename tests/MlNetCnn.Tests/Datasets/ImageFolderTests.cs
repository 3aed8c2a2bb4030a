using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MlNetCnn.Tests;

public sealed class ImageFolderTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    private string Gray(string folder, string name, byte value)
    {
        Directory.CreateDirectory(folder);
        return DatasetFiles.WritePng(Path.Combine(folder, name), 4, 4, Enumerable.Repeat(value, 16).ToArray(), rgb: false);
    }

    [Fact]
    public void ReadsTrainAndTestSplitFolders()
    {
        Gray(_temp.Combine("data", "train", "cat"), "1.png", 10);
        Gray(_temp.Combine("data", "train", "cat"), "2.png", 20);
        Gray(_temp.Combine("data", "train", "dog"), "1.png", 30);
        Gray(_temp.Combine("data", "Test", "dog"), "1.png", 40);

        var (train, test) = ImageFolder.LoadTrainTest(_ml, _temp.Combine("data"));

        Assert.Equal(["cat", "cat", "dog"], train.GetColumn<string>("Label"));
        Assert.Equal([_temp.Combine("data", "Test", "dog", "1.png")], test.GetColumn<string>("ImagePath"));
        var missing = Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.LoadSplit(_ml, _temp.Combine("data"), "validation"));
        Assert.Contains("'validation'", missing.Message);
        Assert.Contains("Test, train", missing.Message);
    }

    [Fact]
    public void ReadsOnlyTheGivenExtensions()
    {
        string cats = _temp.Combine("root", "cat");
        Gray(cats, "a.png", 1);
        Gray(cats, "b.PNG", 2);
        File.Copy(Path.Combine(cats, "a.png"), Path.Combine(cats, "c.bmp"));
        File.WriteAllText(Path.Combine(cats, "notes.txt"), "not an image");
        Directory.CreateDirectory(_temp.Combine("root", ".hidden"));

        Assert.Equal(["a.png", "b.PNG", "c.bmp"], ImageFolder.List(_temp.Combine("root")).Select(r => Path.GetFileName(r.ImagePath)));
        Assert.Equal(["a.png", "b.PNG"], ImageFolder.List(_temp.Combine("root"), [".png"]).Select(r => Path.GetFileName(r.ImagePath)));
        var none = Assert.Throws<InvalidDataException>(() => ImageFolder.List(_temp.Combine("root"), [".jpg"]));
        Assert.Contains(cats, none.Message);
    }

    [Fact]
    public void ErrorsNameTheMissingRootTheEmptyRootAndTheEmptyClassFolder()
    {
        Assert.Contains("nowhere", Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Load(_ml, _temp.Combine("nowhere"))).Message);
        Directory.CreateDirectory(_temp.Combine("empty"));
        Assert.Contains("no class folders", Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_ml, _temp.Combine("empty"))).Message);
        Gray(_temp.Combine("root", "cat"), "1.png", 1);
        Directory.CreateDirectory(_temp.Combine("root", "dog"));
        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_ml, _temp.Combine("root")));
        Assert.Contains($"'{_temp.Combine("root", "dog")}'", error.Message);
    }

    /// <summary>Writes a good PNG and three bad ones (text, empty, truncated) into root/cat.</summary>
    private (string Good, string[] Bad) FolderWithCorruptFiles()
    {
        string cats = _temp.Combine("root", "cat");
        string good = DatasetFiles.WritePng(Path.Combine(Directory.CreateDirectory(cats).FullName, "good.png"), 8, 8, new byte[64 * 3], rgb: true);
        string text = Path.Combine(cats, "text.png"), empty = Path.Combine(cats, "empty.png"), truncated = Path.Combine(cats, "truncated.png");
        File.WriteAllText(text, "not an image at all");
        File.WriteAllBytes(empty, []);
        File.WriteAllBytes(truncated, File.ReadAllBytes(good)[..45]);
        return (good, [empty, text, truncated]);
    }

    [Fact]
    public void MlNetLoadImagesFailsOnACorruptFileWithoutNamingIt()
    {
        var (_, bad) = FolderWithCorruptFiles();
        var data = _ml.Data.LoadFromEnumerable(new[] { new ImageInput { ImagePath = bad[1], Label = "cat" } });
        var pixels = _ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(_ml.Transforms.ResizeImages("Image", 8, 8))
            .Append(_ml.Transforms.ExtractPixels("Features", "Image")).Fit(data).Transform(data);

        // ML.NET 5.0.1: a managed ArgumentException from the decoder (no native crash), wrapped when the cursor is parallel.
        var error = Assert.ThrowsAny<Exception>(() => pixels.GetColumn<float[]>("Features").ToArray());
        var decoderError = error as ArgumentException ?? Assert.IsAssignableFrom<ArgumentException>(error.InnerException);
        Assert.Contains("Invalid input stream contents", decoderError.Message);
        Assert.DoesNotContain("text.png", error.ToString());
    }

    [Fact]
    public void ValidationThrowsNamingTheFileOrSkipsAndCounts()
    {
        var (good, bad) = FolderWithCorruptFiles();

        var error = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_ml, _temp.Combine("root"), validation: ImageValidation.Throw));
        Assert.Contains($"'{bad[0]}'", error.Message);

        var listing = ImageFolder.List(_temp.Combine("root"), validation: ImageValidation.Skip);
        Assert.Equal([good], listing.Select(r => r.ImagePath));
        Assert.Equal(bad, listing.SkippedFiles);

        var messages = new List<string>();
        _ml.Log += (_, e) => messages.Add(e.Message);
        Assert.Single(ImageFolder.Load(_ml, _temp.Combine("root"), validation: ImageValidation.Skip).GetColumn<string>("ImagePath"));
        Assert.Contains(messages, m => m.Contains("skipped 3 files"));

        File.Delete(good);
        var allBad = Assert.Throws<InvalidDataException>(() => ImageFolder.List(_temp.Combine("root"), validation: ImageValidation.Skip));
        Assert.Contains("3 image files do not decode", allBad.Message);
    }

    [Fact]
    public void MixedGrayscaleRgbAndRgbaFilesGoThroughLoadImagesAndExtractPixels()
    {
        string folder = _temp.Combine("root", "mixed");
        Gray(folder, "gray.png", 100);
        DatasetFiles.WritePng(Path.Combine(folder, "rgb.png"), 4, 4,
            Enumerable.Range(0, 16).SelectMany(_ => new byte[] { 200, 50, 0 }).ToArray(), rgb: true);
        using (var rgba = MLImage.CreateFromPixels(4, 4, MLPixelFormat.Bgra32,
            Enumerable.Range(0, 16).SelectMany(_ => new byte[] { 30, 20, 10, 255 }).ToArray()))
            rgba.Save(Path.Combine(folder, "rgba.png"));
        var data = ImageFolder.Load(_ml, _temp.Combine("root"), validation: ImageValidation.Throw);

        var color = _ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(_ml.Transforms.ResizeImages("Image", 4, 4))
            .Append(_ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Fit(data).Transform(data).GetColumn<float[]>("Features").ToArray();
        var gray = _ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(_ml.Transforms.ResizeImages("Image", 4, 4))
            .Append(_ml.Transforms.ConvertToGrayscale("Image"))
            .Append(_ml.Transforms.ExtractPixels("Features", "Image",
                colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
            .Fit(data).Transform(data).GetColumn<float[]>("Features").ToArray();

        // Rows are sorted by path: gray.png, rgb.png, rgba.png. Planar R, G, B.
        Assert.All(color, f => Assert.Equal(48, f.Length));
        Assert.Equal([100, 100, 100], Planes(color[0]));
        Assert.Equal([200, 50, 0], Planes(color[1]));
        Assert.Equal([10, 20, 30], Planes(color[2]));
        Assert.All(gray, f => Assert.Equal(16, f.Length));
        Assert.Equal(100, (int)Math.Round(gray[0][0] * 255));
    }

    private static int[] Planes(float[] chw) => [.. new[] { 0, 16, 32 }.Select(i => (int)Math.Round(chw[i] * 255))];
}
