using System.Collections.Concurrent;

namespace ClassifierService;

/// <summary>
/// A fixed set of threads that check and score the uploads, one image each at a time: requests wait for a free one
/// asynchronously instead of blocking thread-pool threads, at most <c>--concurrency</c> images are scored at once (more
/// would only make libtorch or ONNX Runtime threads fight for the cores), and libtorch's per-thread state (its thread
/// count, its kernels' scratch memory) lives on these few threads rather than on every thread-pool thread that ever
/// scored, which kept resident memory growing.
/// </summary>
public sealed class ScoringThreads : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread[] _threads;

    public ScoringThreads(ServiceSettings settings)
    {
        _threads = [.. Enumerable.Range(0, settings.Concurrency).Select(i => new Thread(Run) { IsBackground = true, Name = $"scoring {i + 1}" })];
        foreach (var thread in _threads)
            thread.Start();
    }

    /// <summary>Runs <paramref name="score"/> on a scoring thread; skipped when the request is cancelled before it starts.</summary>
    public Task<T> RunAsync<T>(Func<T> score, CancellationToken cancellation)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            if (cancellation.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellation);
                return;
            }
            try
            {
                done.TrySetResult(score());
            }
            catch (Exception e)
            {
                // Every failure goes back to the request that asked, which decides what it means.
                done.TrySetException(e);
            }
        }, CancellationToken.None);
        return done.Task;
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        foreach (var thread in _threads)
            thread.Join();
        _work.Dispose();
    }

    private void Run()
    {
        foreach (var item in _work.GetConsumingEnumerable())
            item();
    }
}
