using System.Diagnostics;
using System.Threading.Channels;

namespace ClassifierService;

/// <summary>What <c>GET /health</c> answers.</summary>
public sealed record HealthReport(string Status, string Engine, string Model, int Generation, int Classes,
    DateTimeOffset LoadedAt, int Swaps, string? LastRefusal, DateTimeOffset? LastRefusalAt);

/// <summary>
/// Holds the model in service and swaps it live: the watched file (the model, or the ONNX bundle) is checked on every
/// file-system event and every poll; a changed file is loaded completely and checked on the probe image, then put in
/// service with one atomic exchange. Requests that hold the old model finish on it; it is freed after the last of them.
/// A replacement that does not load or fails the check is refused with a logged error, and the old model keeps serving.
/// </summary>
public sealed partial class ModelHost : IHostedService, IDisposable
{
    private readonly ServiceSettings _settings;
    private readonly ServiceFiles _files;
    private readonly ILogger<ModelHost> _logger;
    // At most one pending wake-up: a burst of events while a load runs asks for one more look, not one per event.
    private readonly Channel<bool> _changed =
        Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private ScoringModel? _current;
    private FileSystemWatcher? _watcher;
    private Task? _watchLoop;
    private FileSignature? _servedSignature;
    private FileSignature? _refusedSignature;
    private int _generation;
    private int _swaps;
    private int _disposed;
    private volatile string? _lastRefusal;
    private DateTimeOffset? _lastRefusalAt;

    public ModelHost(ServiceSettings settings, ServiceFiles files, ILogger<ModelHost> logger)
    {
        _settings = settings;
        _files = files;
        _logger = logger;
    }

    /// <summary>The model in service, or null before the first load.</summary>
    public ScoringModel? Current => Volatile.Read(ref _current);

    /// <summary>A reference to the model in service for one request; give it back with <see cref="ScoringModel.Release"/>.</summary>
    /// <exception cref="InvalidOperationException">No model is loaded yet (or any more).</exception>
    public ScoringModel Acquire()
    {
        while (true)
        {
            var model = Volatile.Read(ref _current) ?? throw new InvalidOperationException("No model is loaded.");
            // Fails only when a swap retired this model and its last request released it in between: read again.
            if (model.TryAcquire())
                return model;
        }
    }

    public HealthReport? Health()
    {
        var model = Current;
        return model is null ? null : new HealthReport("ok", model.Engine.ToString().ToLowerInvariant(), model.Source,
            model.Generation, model.Classes.Count, model.LoadedAt, Volatile.Read(ref _swaps), _lastRefusal, _lastRefusalAt);
    }

    /// <summary>
    /// Loads and checks the first model, before the host starts (the program calls it to report a bad model in one
    /// line); an <see cref="InvalidDataException"/> names the file and the fault.
    /// </summary>
    public void LoadFirstModel()
    {
        if (Current is not null)
            return;
        var signature = FileSignature.Of(_settings.WatchedPath);
        var clock = Stopwatch.StartNew();
        Install(ModelLoading.LoadChecked(_settings, _files), signature, clock.Elapsed);
    }

    /// <summary>Loads the first model unless already loaded (the host does not start without one), then watches its file.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        LoadFirstModel();
        string path = _settings.WatchedPath;

        string folder = Path.GetDirectoryName(path)!;
        try
        {
            _watcher = new FileSystemWatcher(folder, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            _watcher.Changed += (_, _) => _changed.Writer.TryWrite(true);
            _watcher.Created += (_, _) => _changed.Writer.TryWrite(true);
            _watcher.Renamed += (_, _) => _changed.Writer.TryWrite(true);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or ArgumentException)
        {
            // Out of inotify watches, or a file system without events: the poll alone finds the change.
            LogNoWatcher(folder, e.Message);
            _watcher?.Dispose();
            _watcher = null;
        }
        _watchLoop = Task.Run(() => WatchAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        _watcher?.Dispose();
        if (_watchLoop is not null)
            await _watchLoop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        // The container disposes the instance once as ModelHost and once as the hosted service it also is.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stopping.Cancel();
        _watcher?.Dispose();
        Interlocked.Exchange(ref _current, null)?.Release();
    }

    private async Task WatchAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            bool evented;
            try
            {
                using var poll = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                poll.CancelAfter(_settings.PollInterval);
                evented = await _changed.Reader.WaitToReadAsync(poll.Token);
                // A writer that renames its file in raises one event; one that writes in place raises several: let it finish.
                await Task.Delay(TimeSpan.FromMilliseconds(200), stopping);
                while (_changed.Reader.TryRead(out _))
                {
                }
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                evented = false;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            ReloadIfChanged(evented);
        }
    }

    private void ReloadIfChanged(bool evented)
    {
        string path = _settings.WatchedPath;
        var signature = FileSignature.Of(path);
        // A missing file is a replacement in progress (or a mistake): keep serving what is loaded.
        if (signature is null)
            return;
        // An event always means a new file (a same-size, same-time replacement included); a poll compares signatures.
        if (!evented && (signature == _servedSignature || signature == _refusedSignature))
            return;
        var clock = Stopwatch.StartNew();
        try
        {
            Install(ModelLoading.LoadChecked(_settings, _files), signature, clock.Elapsed);
            Interlocked.Increment(ref _swaps);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or NotSupportedException
            or InvalidOperationException or ArgumentException or FormatException)
        {
            _refusedSignature = signature;
            _lastRefusalAt = DateTimeOffset.UtcNow;
            _lastRefusal = e.Message;
            LogRefused(path, Current?.Generation ?? 0, e.Message);
        }
    }

    private void Install(ScoringModel model, FileSignature? signature, TimeSpan took)
    {
        model.Generation = Interlocked.Increment(ref _generation);
        _servedSignature = signature;
        var previous = Interlocked.Exchange(ref _current, model);
        // The host's own reference: requests still holding the old model keep it alive until they finish.
        previous?.Release();
        LogInService(model.Generation, model.Source, model.Engine, model.Classes.Count, took.TotalMilliseconds);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model generation {Generation} in service: {Source} ({Engine}, "
        + "{Classes} classes, loaded and checked in {Milliseconds:F0} ms)")]
    private partial void LogInService(int generation, string source, ScoringEngine engine, int classes, double milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refused the replacement of {Path}; generation {Generation} keeps serving. {Reason}")]
    private partial void LogRefused(string path, int generation, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No file-system events for {Folder} ({Reason}); the model file is polled only")]
    private partial void LogNoWatcher(string folder, string reason);

    /// <summary>Size and write time: enough for a poll to see a replaced file (events catch the rest).</summary>
    private sealed record FileSignature(long Length, DateTime LastWriteUtc)
    {
        public static FileSignature? Of(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileSignature(info.Length, info.LastWriteTimeUtc) : null;
        }
    }
}
