using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// The values behind the label's keys (the <c>KeyValues</c> annotation MapValueToKey writes), kept with the model so
/// <c>PredictedLabel</c> maps back to them with MapKeyToValue and <c>Score</c> slots carry the class names.
/// </summary>
internal sealed class LabelKeyValues
{
    private const string KeyValuesKind = "KeyValues";

    private static readonly PrimitiveDataViewType[] s_supported =
    [
        TextDataViewType.Instance, BooleanDataViewType.Instance,
        NumberDataViewType.SByte, NumberDataViewType.Byte, NumberDataViewType.Int16, NumberDataViewType.UInt16,
        NumberDataViewType.Int32, NumberDataViewType.UInt32, NumberDataViewType.Int64, NumberDataViewType.UInt64,
        NumberDataViewType.Single, NumberDataViewType.Double,
    ];

    private LabelKeyValues(PrimitiveDataViewType itemType, Array values)
    {
        ItemType = itemType;
        Values = values;
    }

    public PrimitiveDataViewType ItemType { get; }

    /// <summary>A T[] of the item type's raw type, one value per class.</summary>
    public Array Values { get; }

    public int Count => Values.Length;

    public static LabelKeyValues? FromColumn(DataViewSchema.Column label)
    {
        var annotation = label.Annotations.Schema.GetColumnOrNull(KeyValuesKind);
        if (annotation?.Type is not VectorDataViewType { ItemType: PrimitiveDataViewType itemType })
            return null;
        if (!s_supported.Contains(itemType))
        {
            // Kept as text: the class names survive; only MapKeyToValue's output type changes.
            var text = new VBuffer<ReadOnlyMemory<char>>();
            label.GetKeyValues(ref text);
            return new LabelKeyValues(TextDataViewType.Instance, text.DenseValues().ToArray());
        }
        return (LabelKeyValues)typeof(LabelKeyValues)
            .GetMethod(nameof(Read), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(itemType.RawType).Invoke(null, [label, itemType])!;
    }

    private static LabelKeyValues Read<T>(DataViewSchema.Column label, PrimitiveDataViewType itemType)
    {
        var values = new VBuffer<T>();
        label.Annotations.GetValue(KeyValuesKind, ref values);
        return new LabelKeyValues(itemType, values.DenseValues().ToArray());
    }

    /// <summary>Adds the KeyValues annotation to a key column being built.</summary>
    public void AddKeyValues(DataViewSchema.Annotations.Builder builder)
        => typeof(LabelKeyValues)
        .GetMethod(nameof(AddKeyValuesOf),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .MakeGenericMethod(ItemType.RawType).Invoke(this, [builder]);

    private void AddKeyValuesOf<T>(DataViewSchema.Annotations.Builder builder)
    {
        var values = (T[])Values;
        builder.AddKeyValues(values.Length, ItemType, (ref VBuffer<T> destination) => new VBuffer<T>(values.Length, values).CopyTo(ref destination));
    }

    /// <summary>The class names for the Score column's slots.</summary>
    public ReadOnlyMemory<char>[] SlotNames()
        => Values.Cast<object>().Select(v => v is ReadOnlyMemory<char> text ? text : (v?.ToString() ?? "").AsMemory()).ToArray();

    public void Write(BinaryWriter writer)
    {
        writer.Write(Array.IndexOf(s_supported, ItemType));
        writer.Write(Count);
        foreach (var value in Values)
        {
            switch (value)
            {
                case ReadOnlyMemory<char> text: writer.Write(text.ToString()); break;
                case bool b: writer.Write(b); break;
                case sbyte v: writer.Write(v); break;
                case byte v: writer.Write(v); break;
                case short v: writer.Write(v); break;
                case ushort v: writer.Write(v); break;
                case int v: writer.Write(v); break;
                case uint v: writer.Write(v); break;
                case long v: writer.Write(v); break;
                case ulong v: writer.Write(v); break;
                case float v: writer.Write(v); break;
                case double v: writer.Write(v); break;
                default: throw new InvalidOperationException($"Cannot save a label value of type {value.GetType()}.");
            }
        }
    }

    public static LabelKeyValues Read(BinaryReader reader)
    {
        int typeIndex = reader.ReadInt32();
        if (typeIndex < 0 || typeIndex >= s_supported.Length)
            throw new InvalidDataException($"the label value type {typeIndex} is unknown.");
        var type = s_supported[typeIndex];
        // A text value takes at least its one-byte length; the others their size. Checked before the array exists.
        int count = reader.ReadCount("label value count",
            type.RawType == typeof(ReadOnlyMemory<char>) || type.RawType == typeof(bool) ? 1
            : System.Runtime.InteropServices.Marshal.SizeOf(type.RawType), 1 << 24);
        Array values = Array.CreateInstance(type.RawType, count);
        for (int i = 0; i < count; i++)
        {
            object value = type.RawType switch
            {
                var t when t == typeof(ReadOnlyMemory<char>) => reader.ReadText("label value").AsMemory(),
                var t when t == typeof(bool) => reader.ReadBoolean(),
                var t when t == typeof(sbyte) => reader.ReadSByte(),
                var t when t == typeof(byte) => reader.ReadByte(),
                var t when t == typeof(short) => reader.ReadInt16(),
                var t when t == typeof(ushort) => reader.ReadUInt16(),
                var t when t == typeof(int) => reader.ReadInt32(),
                var t when t == typeof(uint) => reader.ReadUInt32(),
                var t when t == typeof(long) => reader.ReadInt64(),
                var t when t == typeof(ulong) => reader.ReadUInt64(),
                var t when t == typeof(float) => reader.ReadSingle(),
                _ => reader.ReadDouble(),
            };
            values.SetValue(value, i);
        }
        return new LabelKeyValues(type, values);
    }
}
