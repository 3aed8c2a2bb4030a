using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// ImageAugmentationOptions.AlternateHorizontalFlips: each image is mirrored in every other epoch, from a base bit that
/// follows the image's row (not its batch position), so cached and streamed training stay bit-identical.
/// </summary>
// Compares seeded training runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class AlternatingFlipTests : IDisposable
{
    private static readonly ImageAugmentationOptions Alternating = new() { AlternateHorizontalFlips = true };

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Images 1×1×2 whose two pixels differ, so a mirrored image is recognisable: image i holds (i, −i − 1).</summary>
    private static Tensor Pairs(int n) => stack(Enumerable.Range(0, n).Select(i => tensor(new float[] { i, -i - 1 })).ToArray()).reshape(n, 1, 1, 2);

    /// <summary>Which images of <paramref name="batch"/> come back mirrored.</summary>
    private static bool[] Mirrored(ImageAugmenter augmenter, Tensor batch, int epoch, int[] rows)
    {
        var output = augmenter.Apply(batch, new Random(1), epoch, rows).data<float>().ToArray();
        var input = batch.data<float>().ToArray();
        return Enumerable.Range(0, rows.Length).Select(i =>
        {
            Assert.True(output[2 * i] == input[2 * i] || output[2 * i] == input[2 * i + 1], "every output image is its input, mirrored or not");
            return output[2 * i] != input[2 * i];
        }).ToArray();
    }

    [Fact]
    public void EveryImageIsMirroredInExactlyEveryOtherEpochAndAboutHalfInTheFirst()
    {
        using var scope = NewDisposeScope();
        const int n = 400;
        var augmenter = new ImageAugmenter(Alternating, seed: 17);
        var batch = Pairs(n);
        int[] rows = Enumerable.Range(1000, n).ToArray();
        var epochs = Enumerable.Range(1, 4).Select(e => Mirrored(augmenter, batch, e, rows)).ToArray();
        for (int e = 1; e < epochs.Length; e++)
            Assert.All(Enumerable.Range(0, n), i => Assert.NotEqual(epochs[e - 1][i], epochs[e][i]));
        Assert.Equal(epochs[0], epochs[2]);
        Assert.InRange(epochs[0].Count(f => f), n / 2 - 50, n / 2 + 50);
    }

    [Fact]
    public void TheBitFollowsTheRowNotTheBatchPositionAndDependsOnTheSeed()
    {
        using var scope = NewDisposeScope();
        const int n = 64;
        var augmenter = new ImageAugmenter(Alternating, seed: 3);
        int[] rows = Enumerable.Range(0, n).ToArray();
        bool[] inOrder = Mirrored(augmenter, Pairs(n), 1, rows);

        // The same images in another order, split over two batches of different sizes.
        int[] permutation = Enumerable.Range(0, n).ToArray();
        new Random(9).Shuffle(permutation);
        var shuffled = Pairs(n).index_select(0, tensor(permutation.Select(p => (long)p).ToArray()));
        bool[] first = Mirrored(augmenter, shuffled.narrow(0, 0, 20), 1, permutation[..20]);
        bool[] rest = Mirrored(augmenter, shuffled.narrow(0, 20, n - 20), 1, permutation[20..]);
        bool[] reordered = first.Concat(rest).ToArray();
        Assert.All(Enumerable.Range(0, n), i => Assert.Equal(inOrder[permutation[i]], reordered[i]));

        Assert.NotEqual(inOrder, Mirrored(new ImageAugmenter(Alternating, seed: 4), Pairs(n), 1, rows));
    }

    [Fact]
    public void EveryBatchSourceRecordsEachImagesRow()
    {
        // Image r holds r in every pixel, so the batch shows which row each image came from.
        const int count = 40;
        var shape = new ImageShape(1, 16, 16);
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml,
            Enumerable.Range(0, count)
            .Select(r =>
                new SyntheticTensors.Row { Features = Enumerable.Repeat((float)r, 256).ToArray(),
                    Label = $"c{r % 3}" }));
        var labels = LabeledRows.Read(data, data.Schema["Label"], "training");
        var store = new CompactImageStore(shape, long.MaxValue, allowBytes: false);
        for (int r = 0; r < count; r++)
            Assert.True(store.TryAdd(Enumerable.Repeat((float)r, 256).ToArray()));

        using var cached = new CachedImages(store, Enumerable.Range(0, count).ToArray(), labels.Labels);
        using var streamed = new StreamingImages(data, data.Schema["Features"], shape, labels, null, 2, "training");
        foreach (var (source, shuffle) in new (ITrainingBatchSource, Random?)[] { (cached, new Random(2)),
            (streamed, null), (streamed, new Random(2)) })
        {
            var seen = new List<int>();
            using var batch = new BatchTensors(16, shape);
            using var stream = source.Read(shuffle, batch, CancellationToken.None);
            for (int n; (n = stream.Next()) > 0;)
            {
                for (int i = 0; i < n; i++)
                {
                    int row = batch.Rows[i];
                    Assert.Equal((float)row, batch.Pixels[i * shape.Size]);
                    Assert.Equal((long)labels.Labels[row], batch.Labels[i]);
                    seen.Add(row);
                }
            }
            Assert.Equal(Enumerable.Range(0, count), seen.Order());
            if (shuffle != null)
                Assert.NotEqual(Enumerable.Range(0, count), seen);
        }
    }

    [Fact]
    public void CachedAndStreamedTrainingGiveTheSameWeights()
    {
        var options = new ImageAugmentationOptions { AlternateHorizontalFlips = true, CropPadding = 2, CropPaddingMode = CropPadding.Reflect };
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp)));
        data = ml.Transforms.AugmentImages(options).Fit(data).Transform(data);
        float[] Train(DataCaching caching, out List<string> log)
        {
            var context = new MLContext(seed: 1);
            var messages = new List<string>();
            context.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
            using var model = new CnnTrainer(context, StreamingImageFolder.Options(caching, epochs: 3)).Fit(data);
            log = messages;
            return StreamingImageFolder.Weights(model);
        }

        float[] cached = Train(DataCaching.InMemory, out var cachedLog);
        float[] streamed = Train(DataCaching.Streaming, out var streamedLog);
        Assert.Contains(cachedLog, m => m.Contains("augmentation") && m.Contains("altflip=1"));
        Assert.Contains(streamedLog, m => m.Contains("training images streamed") && m.Contains("fully reshuffled"));
        Assert.Equal(cached, streamed);

        // The flips take part: the same run with random flips instead trains to other weights.
        options.AlternateHorizontalFlips = false;
        options.HorizontalFlipProbability = 0.5;
        data = ml.Transforms.AugmentImages(options).Fit(data).Transform(data);
        Assert.NotEqual(cached, Train(DataCaching.InMemory, out _));
    }

    [Fact]
    public void CombiningItWithARandomFlipProbabilityIsRefused()
    {
        var ml = new MLContext();
        var error =
            Assert.Throws<ArgumentException>(() =>
                ml.Transforms.AugmentImages(new ImageAugmentationOptions { AlternateHorizontalFlips = true,
                    HorizontalFlipProbability = 0.5 }));
        Assert.Contains("AlternateHorizontalFlips", error.Message);
        Assert.Contains("HorizontalFlipProbability must be 0", error.Message);

        // Changed after the estimator was created: refused when it is fitted.
        var options = new ImageAugmentationOptions { AlternateHorizontalFlips = true };
        var estimator = ml.Transforms.AugmentImages(options);
        options.HorizontalFlipProbability = 0.5;
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(8, 2, seed: 1));
        Assert.Contains("HorizontalFlipProbability must be 0", Assert.Throws<ArgumentException>(() => estimator.Fit(data)).Message);
    }

    [Fact]
    public void APipelineWithItSavesAndLoads()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(32, 2, seed: 1));
        var pipeline = ml.Transforms.AugmentImages(new ImageAugmentationOptions { AlternateHorizontalFlips = true, CropPadding = 2 })
            .Append(new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 2, NumberOfThreads = 1 }));
        var fitted = pipeline.Fit(data);
        using var cnn = fitted.LastTransformer;
        string path = _temp.Combine("alternating.zip");
        ml.Model.Save(fitted, data.Schema, path);

        var loaded = (TransformerChain<ITransformer>)new MLContext().Model.Load(path, out _);
        var augmenter = Assert.IsType<ImageAugmentingTransformer>(loaded.First());
        Assert.True(augmenter.Options.AlternateHorizontalFlips);
        Assert.Equal(2, augmenter.Options.CropPadding);
        Assert.True(ImageAugmentingTransformer.FromColumn(loaded.GetOutputSchema(data.Schema)["Features"])!.AlternateHorizontalFlips);
        (loaded.Last() as IDisposable)?.Dispose();
    }

    [Fact]
    public void AnAugmenterSavedInTheFormerFormatStillLoads()
    {
        // A record of format 0x00010001 (before AlternateHorizontalFlips): today's record without the flag, its version set back.
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(8, 2, seed: 1));
        var augmenter = ml.Transforms.AugmentImages(ImageAugmentationOptions.CropAndFlip(2)).Fit(data);
        string path = _temp.Combine("former.zip");
        ml.Model.Save(augmenter, data.Schema, path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith("Model.key", StringComparison.Ordinal)
                && e.FullName.Contains("Model", StringComparison.Ordinal)
                && !e.FullName.Contains("Schema", StringComparison.Ordinal));
            byte[] bytes;
            using (var stream = entry.Open())
            using (var copy = new MemoryStream())
            {
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            // ML.NET's model header: the model signature at 0x40, the version it was written with at 0x48, the oldest reader at 0x4C.
            Assert.Equal("CNNAUGM", System.Text.Encoding.ASCII.GetString(bytes, 0x40, 8).TrimEnd((char)0));
            Assert.Equal(0x00010002u, BitConverter.ToUInt32(bytes, 0x48));
            Assert.Equal(0x00010001u, BitConverter.ToUInt32(bytes, 0x4C));
            BitConverter.GetBytes(0x00010001u).CopyTo(bytes, 0x48);
            string name = entry.FullName;
            entry.Delete();
            using var rewritten = zip.CreateEntry(name).Open();
            rewritten.Write(bytes);
        }

        var loaded = Assert.IsType<ImageAugmentingTransformer>(new MLContext().Model.Load(path, out _));
        Assert.False(loaded.Options.AlternateHorizontalFlips);
        Assert.Equal(0.5, loaded.Options.HorizontalFlipProbability);
        Assert.Equal(2, loaded.Options.CropPadding);
    }
}
