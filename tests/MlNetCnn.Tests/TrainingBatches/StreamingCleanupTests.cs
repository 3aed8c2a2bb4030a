using Microsoft.ML;
using TorchSharp;

namespace MlNetCnn.Tests;

// Counts threads, file handles and tensors of the whole process: no other test may run meanwhile.
[Collection(nameof(StreamingCleanupTests))]
public sealed class StreamingCleanupTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static int OpenFiles() => OperatingSystem.IsLinux() ? Directory.GetFiles("/proc/self/fd").Length : 0;

    private static long LiveTensors() => DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;

    [Fact]
    public void CancellingMidEpochStopsTheDecodingThreadsAndLeavesNothingBehind()
    {
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp, perClass: 40)));
        using (new CnnTrainer(ml, StreamingImageFolder.Options(DataCaching.Streaming, epochs: 1)).Fit(data))
        {
            // A first run loads every native library and type, so the counts below compare like with like.
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int files = OpenFiles();
        long tensors = LiveTensors();

        using var cancellation = new CancellationTokenSource();
        var options = StreamingImageFolder.Options(DataCaching.Streaming, epochs: 3);
        options.ProgressInterval = 1;
        options.CancellationToken = cancellation.Token;
        int batchesAfterCancel = 0;
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (cancellation.IsCancellationRequested)
                batchesAfterCancel++;
            if (p.Epoch == 2 && p.Batch == 2)
                cancellation.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() => new CnnTrainer(ml, options).Fit(data));

        Assert.Equal(0, batchesAfterCancel);
        Assert.Equal(0, ImageChunkReader.LiveThreads);
        Assert.Equal(tensors, LiveTensors());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(files, OpenFiles());
    }

    [Fact]
    public void AfterACompletedFitNoDecodingThreadIsLeft()
    {
        var ml = new MLContext(seed: 1);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, StreamingImageFolder.Create(_temp)));
        var options = StreamingImageFolder.Options(DataCaching.Streaming);
        options.ValidationFraction = 0.2;
        long tensors = LiveTensors();
        var model = new CnnTrainer(ml, options).Fit(data);
        Assert.Equal(0, ImageChunkReader.LiveThreads);
        model.Dispose();
        Assert.Equal(tensors, LiveTensors());
    }
}

[CollectionDefinition(nameof(StreamingCleanupTests), DisableParallelization = true)]
public sealed class StreamingCleanupTestsCollection;
