using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Cached and streamed images train to the same weights; Auto picks by the memory budget and says so.</summary>
// Compares seeded runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class DataCachingTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (CnnTransformer Model, List<string> Log) Train(IDataView data, CnnTrainerOptions options)
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        return (new CnnTrainer(ml, options).Fit(data), log);
    }

    [Fact]
    public void StreamingAnImageFolderGivesTheWeightsOfTheInMemoryCache()
    {
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp)));
        var (cached, cachedLog) = Train(data, StreamingImageFolder.Options(DataCaching.InMemory));
        var (streamed, streamedLog) = Train(data, StreamingImageFolder.Options(DataCaching.Streaming));
        using (cached)
        using (streamed)
        {
            Assert.Contains(cachedLog, m => m.Contains("training images cached in memory, 1 byte per value"));
            Assert.Contains(streamedLog, m => m.Contains("training images streamed") && m.Contains("fully reshuffled"));
            Assert.Contains(streamedLog, m => m.Contains("the batch queue was empty at"));
            Assert.Equal(StreamingImageFolder.Weights(cached), StreamingImageFolder.Weights(streamed));
            Assert.Equal(cached.TrainingHistory.Select(e => e.TrainLoss), streamed.TrainingHistory.Select(e => e.TrainLoss));
        }
    }

    [Fact]
    public void AValidationSplitStreamsLikeItCaches()
    {
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp)));
        var cachedOptions = StreamingImageFolder.Options(DataCaching.InMemory);
        var streamedOptions = StreamingImageFolder.Options(DataCaching.Streaming);
        cachedOptions.ValidationFraction = streamedOptions.ValidationFraction = 0.25;
        using var cached = Train(data, cachedOptions).Model;
        using var streamed = Train(data, streamedOptions).Model;
        Assert.Equal(cached.TrainingHistory.Select(e => e.ValidationLoss), streamed.TrainingHistory.Select(e => e.ValidationLoss));
        Assert.Equal(StreamingImageFolder.Weights(cached), StreamingImageFolder.Weights(streamed));
    }

    [Fact]
    public void ABinaryReaderAndAStratifiedSplitOfAFolderStayReadableByPosition()
    {
        var ml = new MLContext(seed: 1);
        var (pixels, labels) = DatasetFiles.CountingImages(64, 16, classes: 4);
        var (images, labelFile) = DatasetFiles.WriteIdxPair(_temp.Path, "train", pixels, labels, 16);
        var idx = IdxDataset.Load(ml, images, labelFile);
        var (cached, _) = Train(idx, StreamingImageFolder.Options(DataCaching.InMemory));
        var (streamed, log) = Train(idx, StreamingImageFolder.Options(DataCaching.Streaming));
        using (cached)
        using (streamed)
        {
            Assert.Contains(log, l => l.Contains("fully reshuffled"));
            Assert.Equal(StreamingImageFolder.Weights(cached), StreamingImageFolder.Weights(streamed));
        }

        var (train, _) = DataSplit.StratifiedTrainValidation(ml,
            ImageFolder.Load(ml, StreamingImageFolder.Create(_temp, perClass: 8)), 0.25, seed: 3);
        var (split, splitLog) = Train(StreamingImageFolder.Prepare(ml, train), StreamingImageFolder.Options(DataCaching.Streaming, epochs: 1));
        split.Dispose();
        Assert.Contains(splitLog, l => l.Contains("fully reshuffled"));
    }

    [Fact]
    public void TheLoadImagesForCnnPipelineStreamsFullyReshuffled()
    {
        var ml = new MLContext(seed: 1);
        var listing = ImageFolder.Load(ml, StreamingImageFolder.Create(_temp, perClass: 8));
        var data = ml.Transforms.LoadImagesForCnn(16, 16).Append(ml.Transforms.Conversion.MapValueToKey("Label")).Fit(listing).Transform(listing);
        var (streamed, log) = Train(data, StreamingImageFolder.Options(DataCaching.Streaming, epochs: 1));
        var (cached, _) = Train(data, StreamingImageFolder.Options(DataCaching.InMemory, epochs: 1));
        using (streamed)
        using (cached)
        {
            Assert.Contains(log, l => l.Contains("fully reshuffled"));
            Assert.Equal(StreamingImageFolder.Weights(cached), StreamingImageFolder.Weights(streamed));
        }
    }

    [Fact]
    public void AutoCachesWithinTheBudgetAndStreamsBeyondIt()
    {
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp, perClass: 8)));
        var options = StreamingImageFolder.Options(DataCaching.Auto, epochs: 1);
        var (cached, cachedLog) = Train(data, options);
        cached.Dispose();
        Assert.Contains(cachedLog, l => l.Contains("training images cached in memory") && l.Contains("memory budget"));

        options.MemoryBudgetBytes = 24 * 3 * 16 * 16 - 1; // one byte short of the 24 images
        var (streamed, streamedLog) = Train(data, options);
        streamed.Dispose();
        Assert.Contains(streamedLog,
            l => l.Contains("training images streamed")
            && l.Contains("DataCaching.Auto: 24 images of 3×16×16 take at least"));
    }

    [Fact]
    public void InvalidDataOptionsAreRefusedWhenTheTrainerIsCreated()
    {
        var ml = new MLContext();
        Assert.Contains("DataCaching",
            Assert.Throws<ArgumentOutOfRangeException>(() =>
                new CnnTrainer(ml, new CnnTrainerOptions { DataCaching = (DataCaching)7 })).Message);
        Assert.Contains("MemoryBudgetBytes",
            Assert.Throws<ArgumentOutOfRangeException>(() =>
                new CnnTrainer(ml, new CnnTrainerOptions { MemoryBudgetBytes = -1 })).Message);
        Assert.Contains("DataLoadingThreads",
            Assert.Throws<ArgumentOutOfRangeException>(() =>
                new CnnTrainer(ml, new CnnTrainerOptions { DataLoadingThreads = 0 })).Message);
    }

    [Fact]
    public void DataReadableOnlyInOrderStreamsThroughASeededShuffleBuffer()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(96, 3, seed: 2));
        var options = StreamingImageFolder.Options(DataCaching.Streaming);
        var (first, log) = Train(data, options);
        var (again, _) = Train(data, StreamingImageFolder.Options(DataCaching.Streaming));
        var otherSeed = StreamingImageFolder.Options(DataCaching.Streaming);
        otherSeed.Seed = 6;
        var (other, _) = Train(data, otherSeed);
        using (first)
        using (again)
        using (other)
        {
            Assert.Contains(log, l => l.Contains("shuffled through a buffer of 96 images (the data can only be read in order)"));
            Assert.Equal(StreamingImageFolder.Weights(first), StreamingImageFolder.Weights(again));
            Assert.NotEqual(first.TrainingHistory.Select(e => e.TrainLoss), other.TrainingHistory.Select(e => e.TrainLoss));
        }
    }
}
