using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class LoadImagesForCnnTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    // One 8×8 RGB image of a single colour in root/<label>/image.png.
    private IDataView OneColourImage(byte red, byte green, byte blue)
    {
        string folder = _temp.Combine("images", "a");
        Directory.CreateDirectory(folder);
        var pixels = Enumerable.Range(0, 64).SelectMany(_ => new[] { red, green, blue }).ToArray();
        DatasetFiles.WritePng(Path.Combine(folder, "image.png"), 8, 8, pixels, rgb: true);
        return ImageFolder.Load(_ml, _temp.Combine("images"));
    }

    private static float[] Features(IDataView data) => data.GetColumn<float[]>("Features").Single();

    [Fact]
    public void ColourImagesBecomeThreePlanarChannelsScaledToOne()
    {
        var data = OneColourImage(255, 0, 51);

        var prepared = _ml.Transforms.LoadImagesForCnn(width: 4, height: 4).Fit(data).Transform(data);

        var column = prepared.Schema["Features"];
        var type = Assert.IsType<VectorDataViewType>(column.Type);
        Assert.Equal(NumberDataViewType.Single, type.ItemType);
        Assert.Equal([3, 4, 4], type.Dimensions.ToArray());
        float[] values = Features(prepared);
        Assert.All(values[..16], v => Assert.Equal(1f, v, 5));     // red plane
        Assert.All(values[16..32], v => Assert.Equal(0f, v, 5));   // green plane
        Assert.All(values[32..], v => Assert.Equal(0.2f, v, 5));   // blue plane
        // Only the features are added: the decoded image is not left in the output.
        Assert.Equal(["ImagePath", "Label", "Features"], prepared.Schema.Select(c => c.Name));
    }

    [Fact]
    public void GrayscaleImagesBecomeOneChannelScaledToOne()
    {
        var data = OneColourImage(102, 102, 102);

        var prepared = _ml.Transforms.LoadImagesForCnn(width: 6, height: 5, grayscale: true, outputColumnName: "Pixels").Fit(data).Transform(data);

        var type = Assert.IsType<VectorDataViewType>(prepared.Schema["Pixels"].Type);
        Assert.Equal([1, 5, 6], type.Dimensions.ToArray());
        Assert.All(prepared.GetColumn<float[]>("Pixels").Single(), v => Assert.Equal(0.4f, v, 2));
    }

    [Fact]
    public void AFittedPipelineTrainsAndItsFeaturesSatisfyTheTrainer()
    {
        var train = ImageFolder.Load(_ml, SyntheticImages.CreateFolder(_temp.Combine("train"), perClass: 12, size: 20, color: true));

        var pipeline = _ml.Transforms.LoadImagesForCnn(width: 16, height: 16)
            .Append(_ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(_ml.MulticlassClassification.Trainers.Cnn(epochs: 1, batchSize: 12));
        using var model = pipeline.Fit(train);

        Assert.Equal(new ImageShape(3, 16, 16), model.GetCnnTransformer().InputShape);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GivesExactlyWhatTheHandWrittenTransformChainGives(bool grayscale)
    {
        var data = ImageFolder.Load(_ml, SyntheticImages.CreateFolder(_temp.Combine("chain"), perClass: 3, size: 30, color: true));
        IEstimator<ITransformer> handWritten = _ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(_ml.Transforms.ResizeImages("Image", 28, 28));
        if (grayscale)
            handWritten = handWritten.Append(_ml.Transforms.ConvertToGrayscale("Image"));
        handWritten = handWritten.Append(_ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255,
            colorsToExtract: grayscale ? Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Red
            : Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Rgb));

        var expected = handWritten.Fit(data).Transform(data).GetColumn<float[]>("Features").ToList();
        var actual = _ml.Transforms.LoadImagesForCnn(28, 28, grayscale).Fit(data).Transform(data).GetColumn<float[]>("Features").ToList();

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void BadArgumentsAreRejectedAtOnce()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ml.Transforms.LoadImagesForCnn(width: 0, height: 4));
        Assert.Throws<ArgumentException>(() => _ml.Transforms.LoadImagesForCnn(width: 4, height: 4, outputColumnName: " "));
        var missing = Assert.Throws<DirectoryNotFoundException>(() => _ml.Transforms.LoadImagesForCnn(4, 4, imageFolder: _temp.Combine("nowhere")));
        Assert.Contains("nowhere", missing.Message);
        var data = OneColourImage(1, 2, 3);
        var wrongColumn = Assert.ThrowsAny<ArgumentException>(() => _ml.Transforms.LoadImagesForCnn(4, 4, inputColumnName: "Path").Fit(data));
        Assert.Contains("Path", wrongColumn.Message);
    }
}
