using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// Reads the image column of chosen rows on background threads into a bounded queue of chunks (a chunk is usually
/// one batch) that the consumer takes strictly in chunk order, so decoding overlaps training and the result never
/// depends on thread timing. Each thread has its own cursor over its own view; the ML.NET transforms upstream
/// (LoadImages, ResizeImages, ExtractPixels, ...) run inside that cursor's getter, so only the rows asked for are
/// decoded. Disposing stops the threads (they finish the row at hand) and waits for them.
/// </summary>
internal sealed class ImageChunkReader : IDisposable
{
    /// <summary>
    /// One thread's share: the view it reads, the positions in that view to decode (ascending), the same rows'
    /// positions in the data the user gave (for messages), and the chunks they fill, in order.
    /// </summary>
    internal sealed record Assignment(IDataView View, int[] Positions, int[] SourceRows, int[] Chunks);

    private static int s_liveThreads;
    private readonly int _columnIndex;
    private readonly int _size;
    private readonly int[] _chunkRows;
    private readonly float[][] _slots;
    private readonly int[] _slotChunk;
    private readonly string _role;
    private readonly object _gate = new();
    private readonly CancellationToken _cancellation;
    private readonly CancellationTokenSource _stop;
    private readonly Thread[] _threads;
    private ExceptionDispatchInfo? _failure;
    private int _next;
    private bool _holding;

    /// <param name="assignments">One per thread.</param>
    /// <param name="columnIndex">The image column's index (the same in every assignment's view).</param>
    /// <param name="shape">The image shape.</param>
    /// <param name="chunkRows">Rows of each chunk.</param>
    /// <param name="capacity">Chunks decoded ahead of the consumer at most.</param>
    /// <param name="role">"training" or "validation", for messages.</param>
    /// <param name="cancellation">Stops the threads and the consumer.</param>
    public ImageChunkReader(IReadOnlyList<Assignment> assignments, int columnIndex, ImageShape shape, int[] chunkRows,
        int capacity, string role, CancellationToken cancellation)
    {
        _columnIndex = columnIndex;
        _size = shape.Size;
        _chunkRows = chunkRows;
        _role = role;
        _cancellation = cancellation;
        int largest = chunkRows.Length == 0 ? 0 : chunkRows.Max();
        capacity = Math.Clamp(capacity, 1, Math.Max(1, chunkRows.Length));
        _slots = Enumerable.Range(0, capacity).Select(_ => new float[(long)largest * _size]).ToArray();
        _slotChunk = Enumerable.Repeat(-1, capacity).ToArray();
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        _threads = assignments.Where(a => a.Chunks.Length > 0)
            .Select(a => new Thread(() => Work(a)) { IsBackground = true, Name = "MlNetCnn image decoding" }).ToArray();
        foreach (var thread in _threads)
        {
            Interlocked.Increment(ref s_liveThreads);
            thread.Start();
        }
    }

    /// <summary>Decoding threads of all readers still running (for tests: none after Fit).</summary>
    internal static int LiveThreads => Volatile.Read(ref s_liveThreads);

    /// <summary>Chunks taken after the first one.</summary>
    public int LaterTakes { get; private set; }

    /// <summary>Of <see cref="LaterTakes"/>, those the consumer had to wait for (the queue was empty).</summary>
    public int EmptyTakes { get; private set; }

    /// <summary>Time the consumer spent waiting for chunks, the first one included.</summary>
    public TimeSpan Waited { get; private set; }

    /// <summary>
    /// Releases the chunk taken before and waits for the next one; returns its pixels (valid until the next call) and
    /// sets <paramref name="rows"/>, or returns null after the last chunk. Rethrows a decoding thread's error.
    /// </summary>
    public float[]? Take(out int rows)
    {
        rows = 0;
        lock (_gate)
        {
            if (_holding)
            {
                _next++;
                _holding = false;
                Monitor.PulseAll(_gate);
            }
            if (_next >= _chunkRows.Length)
                return null;
            int slot = _next % _slots.Length;
            if (_slotChunk[slot] != _next)
            {
                if (_next > 0)
                    EmptyTakes++;
                var clock = Stopwatch.StartNew();
                while (_slotChunk[slot] != _next)
                {
                    _failure?.Throw();
                    _cancellation.ThrowIfCancellationRequested();
                    Monitor.Wait(_gate, 50);
                }
                Waited += clock.Elapsed;
            }
            if (_next > 0)
                LaterTakes++;
            _holding = true;
            rows = _chunkRows[_next];
            return _slots[slot];
        }
    }

    private void Work(Assignment assignment)
    {
        try
        {
            var column = assignment.View.Schema[_columnIndex];
            using var cursor = SingleCursor(assignment.View, [column]);
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> buffer = default;
            int k = 0;
            foreach (int chunk in assignment.Chunks)
            {
                float[] slot;
                lock (_gate)
                {
                    while (chunk >= _next + _slots.Length)
                    {
                        if (_stop.IsCancellationRequested)
                            return;
                        Monitor.Wait(_gate, 50);
                    }
                    slot = _slots[chunk % _slots.Length];
                }
                for (int i = 0; i < _chunkRows[chunk]; i++, k++)
                {
                    if (_stop.IsCancellationRequested)
                        return;
                    int target = assignment.Positions[k];
                    bool found = true;
                    try
                    {
                        while (found && cursor.Position < target)
                            found = cursor.MoveNext();
                        if (found)
                            getter(ref buffer);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        throw new InvalidDataException($"Could not read the image of row {assignment.SourceRows[k]} of "
                            + $"the {_role} data{Describe(assignment.View, target)}: {e.Message}", e);
                    }
                    if (!found)
                        throw new InvalidOperationException($"The {_role} data ended before row "
                            + $"{assignment.SourceRows[k]}: it must return the same rows on every pass.");
                    if (buffer.Length != _size)
                        throw new InvalidOperationException($"Row {assignment.SourceRows[k]} of the {_role} data: "
                            + $"column '{column.Name}' holds {buffer.Length} values, expected {_size}.");
                    buffer.CopyTo(slot.AsSpan(i * _size, _size));
                }
                lock (_gate)
                {
                    _slotChunk[chunk % _slots.Length] = chunk;
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            lock (_gate)
            {
                _failure ??= ExceptionDispatchInfo.Capture(e);
                Monitor.PulseAll(_gate);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            // Stopping: whatever the row at hand did no longer matters.
        }
        finally
        {
            Interlocked.Decrement(ref s_liveThreads);
        }
    }

    /// <summary>
    /// A cursor that runs the transforms on the calling thread. ML.NET's own GetRowCursor may split the rows over
    /// helper threads and merge them again; these threads already are the parallelism, and an error must surface at
    /// the row that caused it.
    /// </summary>
    private static DataViewRowCursor SingleCursor(IDataView view, IReadOnlyList<DataViewSchema.Column> columns)
    {
        var set = view.GetRowCursorSet(columns, 1);
        if (set.Length == 1)
            return set[0];
        foreach (var cursor in set)
            cursor.Dispose();
        return view.GetRowCursor(columns);
    }

    /// <summary>The row's text columns (e.g. the image path), read again without decoding, for an error message.</summary>
    private static string Describe(IDataView view, int position)
    {
        try
        {
            var text = view.Schema.Where(c => !c.IsHidden && c.Type is TextDataViewType).ToArray();
            if (text.Length == 0)
                return "";
            using var cursor = SingleCursor(view, text);
            while (cursor.Position < position && cursor.MoveNext())
            {
            }
            if (cursor.Position != position)
                return "";
            var values = text.Select(c =>
            {
                ReadOnlyMemory<char> value = default;
                cursor.GetGetter<ReadOnlyMemory<char>>(c)(ref value);
                return $"{c.Name} '{value}'";
            });
            return $" ({string.Join(", ", values)})";
        }
        catch (Exception)
        {
            return "";
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_gate)
            Monitor.PulseAll(_gate);
        foreach (var thread in _threads)
            thread.Join();
        _stop.Dispose();
    }
}
