using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// Holds one input column's values for a batch of rows, so the scoring cursor can read a batch ahead (one forward pass
/// per batch) and still serve every passed-through column for the row it is on. Values are deep-copied: upstream
/// getters may reuse their buffers once their cursor moves.
/// </summary>
internal abstract class BufferedColumn
{
    public abstract void Capture(int slot);

    public abstract Delegate CreateGetter(Func<int> currentSlot);

    public static BufferedColumn Create(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
    {
        var rawType = column.Type.RawType;
        string factory = rawType.IsGenericType && rawType.GetGenericTypeDefinition() == typeof(VBuffer<>)
            ? nameof(CreateVector) : nameof(CreateScalar);
        var itemType = factory == nameof(CreateVector) ? rawType.GetGenericArguments()[0] : rawType;
        return (BufferedColumn)typeof(BufferedColumn).GetMethod(factory, BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(itemType).Invoke(null, [input, column, capacity])!;
    }

    private static BufferedColumn CreateScalar<T>(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
    {
        var getter = input.GetGetter<T>(column);
        if (typeof(T) == typeof(ReadOnlyMemory<char>))
        {
            // Text may point into an upstream buffer that the next row overwrites: keep a private copy.
            var textGetter = (ValueGetter<ReadOnlyMemory<char>>)(object)getter;
            return new BufferedColumn<ReadOnlyMemory<char>>(capacity, (ref ReadOnlyMemory<char> slot) =>
            {
                textGetter(ref slot);
                slot = slot.ToArray();
            }, (in ReadOnlyMemory<char> source, ref ReadOnlyMemory<char> destination) => destination = source);
        }
        return new BufferedColumn<T>(capacity, (ref T slot) => getter(ref slot), (in T source, ref T destination) => destination = source);
    }

    private static BufferedColumn CreateVector<T>(DataViewRowCursor input, DataViewSchema.Column column, int capacity)
    {
        var getter = input.GetGetter<VBuffer<T>>(column);
        var scratch = new VBuffer<T>();
        return new BufferedColumn<VBuffer<T>>(capacity, (ref VBuffer<T> slot) =>
        {
            getter(ref scratch);
            scratch.CopyTo(ref slot);
        }, (in VBuffer<T> source, ref VBuffer<T> destination) => source.CopyTo(ref destination));
    }
}

internal delegate void CaptureValue<T>(ref T slot);

internal delegate void ServeValue<T>(in T source, ref T destination);

internal sealed class BufferedColumn<T>(int capacity, CaptureValue<T> capture, ServeValue<T> serve) : BufferedColumn
{
    private readonly T[] _values = new T[capacity];

    public override void Capture(int slot) => capture(ref _values[slot]);

    public override Delegate CreateGetter(Func<int> currentSlot)
        => (ValueGetter<T>)((ref T destination) => serve(in _values[currentSlot()], ref destination));
}
