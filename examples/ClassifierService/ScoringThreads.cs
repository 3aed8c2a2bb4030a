using System.Collections.Concurrent;

namespace ClassifierService;

/// <summary>
/// A fixed set of threads that check and score the uploads, one image each at a time: requests wait for a free one
/// asynchronously instead of blocking thread-pool threads, at most <c>--concurrency</c> images are scored at once (more
/// would only make libtorch or ONNX Runtime threads fight for the cores), and libtorch's per-thread state (its thread
/// count, its kernels' scratch memory) lives on these few threads rather than on every thread-pool thread that ever
/// scored, which kept resident memory growing. A thread whose work failed unexpectedly is replaced by a fresh one, so
/// native state it may have left broken (once, under load, every second request failed after a libtorch error) does
/// not outlive that request.
/// </summary>
public sealed partial class ScoringThreads : IDisposable
{
    private readonly BlockingCollection<Func<bool>> _work = new();
    private readonly List<Thread> _threads = [];
    private readonly ILogger<ScoringThreads> _logger;
    private readonly int _count;
    private int _started;

    public ScoringThreads(ServiceSettings settings, ILogger<ScoringThreads> logger)
    {
        _logger = logger;
        _count = settings.Concurrency;
        for (int i = 0; i < _count; i++)
            StartThread();
    }

    /// <summary>How many threads have been replaced after a failure.</summary>
    public int Replaced => Volatile.Read(ref _started) - _count;

    /// <summary>
    /// Runs <paramref name="score"/> on a scoring thread; skipped when the request is cancelled before it starts. An
    /// exception from <paramref name="score"/> goes to the caller and retires the thread that ran it.
    /// </summary>
    public Task<T> RunAsync<T>(Func<T> score, CancellationToken cancellation)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            if (cancellation.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellation);
                return true;
            }
            try
            {
                done.TrySetResult(score());
                return true;
            }
            catch (Exception e)
            {
                // The request that asked decides what the failure means; this thread's native state is suspect.
                done.TrySetException(e);
                return false;
            }
        }, CancellationToken.None);
        return done.Task;
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        while (true)
        {
            Thread[] threads;
            lock (_threads)
                threads = [.. _threads];
            foreach (var thread in threads)
                thread.Join();
            lock (_threads)
            {
                // A thread replaced while joining would be missed without another look.
                if (_threads.Count == threads.Length)
                    break;
            }
        }
        _work.Dispose();
    }

    private void StartThread()
    {
        int number = Interlocked.Increment(ref _started);
        var thread = new Thread(Run) { IsBackground = true, Name = $"scoring {number}" };
        lock (_threads)
            _threads.Add(thread);
        thread.Start();
    }

    private void Run()
    {
        foreach (var item in _work.GetConsumingEnumerable())
        {
            if (item())
                continue;
            LogReplaced(Thread.CurrentThread.Name);
            if (!_work.IsAddingCompleted)
                StartThread();
            return;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scoring thread '{Thread}' failed a request and is replaced by a fresh one")]
    private partial void LogReplaced(string? thread);
}
