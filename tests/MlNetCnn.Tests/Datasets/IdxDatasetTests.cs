using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class IdxDatasetTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsFeaturesScaledAndAKeyLabelWithClassNames(bool gzip)
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 12, size: 5);
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 5, gzip);

        var data = IdxDataset.Load(_ml, images, labelFile, MnistVariant.FashionMnist);

        var features = (VectorDataViewType)data.Schema["Features"].Type;
        Assert.Equal([1, 5, 5], features.Dimensions.ToArray());
        Assert.Equal(NumberDataViewType.Single, features.ItemType);
        var key = Assert.IsType<KeyDataViewType>(data.Schema["Label"].Type);
        Assert.Equal(10UL, key.Count);
        Assert.Equal(IdxDataset.FashionClassNames, DatasetFiles.KeyNames(data));
        Assert.Equal(12, data.GetRowCount());

        var rows = data.GetColumn<float[]>("Features").ToArray();
        var keys = data.GetColumn<uint>("Label").ToArray();
        Assert.Equal(12, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(pixels.AsSpan(i * 25, 25).ToArray().Select(b => b * (1f / 255)), rows[i]);
            Assert.Equal(labels[i] + 1u, keys[i]);
        }
    }

    [Fact]
    public void DetectsGzipByMagicBytesNotByExtension()
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 3, size: 4);
        string images = DatasetFiles.WriteIdx(_temp.Combine("images.bin"), [3, 4, 4], pixels, gzip: true);
        string labelFile = DatasetFiles.WriteIdx(_temp.Combine("labels.gz"), [3], labels, gzip: false);

        var data = IdxDataset.Load(_ml, images, labelFile);

        Assert.Equal(pixels.Take(16).Select(b => b * (1f / 255)), data.GetColumn<float[]>("Features").First());
        Assert.Equal([1u, 2u, 3u], data.GetColumn<uint>("Label"));
    }

    [Fact]
    public void ReadsASplitFromAFolderAndDigitNames()
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 4, size: 3);
        DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 3, gzip: true);
        DatasetFiles.WriteIdxPair(_temp.Path, "t10k", pixels.AsSpan(0, 18).ToArray(), labels[..2], size: 3);

        var train = IdxDataset.Load(_ml, _temp.Path, DatasetSplit.Train);
        var test = IdxDataset.Load(_ml, _temp.Path, DatasetSplit.Test);

        Assert.Equal(4, train.GetColumn<uint>("Label").Count());
        Assert.Equal(2, test.GetRowCount());
        Assert.Equal(IdxDataset.DigitClassNames, DatasetFiles.KeyNames(test));
        Assert.Contains("nowhere",
            Assert.Throws<DirectoryNotFoundException>(() =>
                IdxDataset.Load(_ml, _temp.Combine("nowhere"), DatasetSplit.Train)).Message);
        Directory.CreateDirectory(_temp.Combine("empty"));
        Assert.Contains("train-images-idx3-ubyte",
            Assert.Throws<FileNotFoundException>(() => IdxDataset.Load(_ml, _temp.Combine("empty"), DatasetSplit.Train))
            .Message);
    }

    [Fact]
    public void ShuffledCursorsVisitEveryRowOnce()
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 20, size: 2);
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 2);
        var data = IdxDataset.Load(_ml, images, labelFile);

        var shuffled = _ml.Data.ShuffleRows(data, seed: 3);
        var firstPixels = shuffled.GetColumn<float[]>("Features").Select(f => (int)Math.Round(f[0] * 255)).ToList();

        Assert.Equal(Enumerable.Range(0, 20).Select(i => i * 7 % 256).Order(), firstPixels.Order());
        Assert.NotEqual(Enumerable.Range(0, 20).Select(i => i * 7 % 256), firstPixels);
    }

    [Fact]
    public void HeaderErrorsNameTheFile()
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 4, size: 3);
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 3);

        var swapped = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, labelFile, images));
        Assert.Contains(labelFile, swapped.Message);
        Assert.Contains("2049", swapped.Message);
        Assert.Contains("label file", swapped.Message);

        string fewerLabels = DatasetFiles.WriteIdx(_temp.Combine("three-labels"), [3], labels[..3]);
        var counts = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, images, fewerLabels));
        Assert.Contains("4 images", counts.Message);
        Assert.Contains("3 labels", counts.Message);

        string truncated = _temp.Combine("truncated-images");
        File.WriteAllBytes(truncated, File.ReadAllBytes(images)[..^5]);
        var shortFile = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, truncated, labelFile));
        Assert.Contains(truncated, shortFile.Message);
        Assert.Contains("truncated", shortFile.Message);

        string badDimensions = DatasetFiles.WriteIdx(_temp.Combine("zero-rows"), [4, 0, 3], []);
        Assert.Contains("dimensions 4×0×3", Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, badDimensions, labelFile)).Message);

        string tiny = _temp.Combine("tiny");
        File.WriteAllBytes(tiny, [0, 0]);
        Assert.Contains(tiny, Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, tiny, labelFile)).Message);

        Assert.Contains("missing-file",
            Assert.Throws<FileNotFoundException>(() => IdxDataset.Load(_ml, _temp.Combine("missing-file"), labelFile))
            .Message);
    }

    [Fact]
    public void BodyErrorsOfGzipFilesSurfaceOnTheFirstCursorAndNameTheFile()
    {
        var (pixels, labels) = DatasetFiles.CountingImages(count: 50, size: 8);
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 8, gzip: true);

        string truncated = _temp.Combine("truncated.gz");
        File.WriteAllBytes(truncated, DatasetFiles.Gzip(File.ReadAllBytes(DatasetFiles.WriteIdx(_temp.Combine("raw"), [50, 8, 8], pixels))[..^100]));
        var lazy = IdxDataset.Load(_ml, truncated, labelFile);
        var error = Assert.Throws<InvalidDataException>(() => lazy.GetColumn<uint>("Label").ToArray());
        Assert.Contains(truncated, error.Message);
        Assert.Contains("truncated", error.Message);

        string damaged = _temp.Combine("damaged.gz");
        byte[] bytes = File.ReadAllBytes(images);
        bytes.AsSpan(30, 40).Fill(0xFF);
        File.WriteAllBytes(damaged, bytes);
        var corrupt = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, damaged, labelFile).GetColumn<float[]>("Features").ToArray());
        Assert.Contains(damaged, corrupt.Message);

        string outOfRange = DatasetFiles.WriteIdx(_temp.Combine("labels-out-of-range"), [50],
            labels.Select((l, i) => i == 7 ? (byte)12 : l).ToArray());
        var range = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, images, outOfRange).GetColumn<uint>("Label").ToArray());
        Assert.Contains(outOfRange, range.Message);
        Assert.Contains("label 7 is 12", range.Message);
    }

    [Fact]
    public void AGzipFileDeclaringFarMoreThanItCanHoldIsTruncatedBeforeAnythingIsAllocated()
    {
        // 2.7 M images of 28×28 (2.1 GB) declared by a 150 KB file: reported at Load, naming the file, with nothing allocated.
        var noise = new byte[150_000];
        new Random(1).NextBytes(noise);
        string images = DatasetFiles.WriteIdx(_temp.Combine("bomb-images.gz"), [2_700_000, 28, 28], noise, gzip: true);
        string labels = DatasetFiles.WriteIdx(_temp.Combine("bomb-labels.gz"), [2_700_000], new byte[1000], gzip: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, images, labels));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 50_000_000);
        Assert.Contains(images, error.Message);
        Assert.Contains("truncated", error.Message);
        Assert.Contains("2700000×28×28", error.Message);

        string smallImages = DatasetFiles.WriteIdx(_temp.Combine("images"), [10, 28, 28], new byte[10 * 784]);
        var labelError = Assert.Throws<InvalidDataException>(() => IdxDataset.Load(_ml, smallImages, labels));
        Assert.Contains(labels, labelError.Message);
        Assert.Contains("truncated", labelError.Message);
    }

    [Fact]
    public void CnnTrainerTrainsStraightFromTheIdxViewWithoutMapValueToKey()
    {
        var random = new Random(5);
        const int count = 48;
        var pixels = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % 3);
            byte[] bgra = SyntheticImages.Draw(labels[i], 28, random, color: false);
            for (int p = 0; p < 28 * 28; p++)
                pixels[i * 784 + p] = bgra[4 * p];
        }
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, size: 28, gzip: true);
        var data = IdxDataset.Load(_ml, images, labelFile, MnistVariant.FashionMnist);

        var pipeline = new CnnTrainer(_ml, new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 1, BatchSize = 16 })
            .Append(_ml.Transforms.Conversion.MapKeyToValue("PredictedLabelName", "PredictedLabel"));
        using var model = pipeline.Fit(data);
        var scored = model.Transform(data);

        var cnn = model.OfType<CnnTransformer>().Single();
        Assert.Equal(new ImageShape(1, 28, 28), cnn.InputShape);
        Assert.Equal(10, cnn.ClassCount);
        Assert.All(scored.GetColumn<string>("PredictedLabelName"), name => Assert.Contains(name, IdxDataset.FashionClassNames));
    }
}
