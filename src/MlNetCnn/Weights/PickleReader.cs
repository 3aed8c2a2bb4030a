using System.Buffers.Binary;
using System.Text;

namespace MlNetCnn.Persistence;

/// <summary>
/// The subset of Python's pickle machine that <c>torch.save(model.state_dict())</c> writes (protocols 2 to 4): dicts,
/// tuples, lists, strings, numbers, globals, persistent ids, REDUCE and BUILD. It builds plain .NET objects and hands
/// every call (REDUCE, NEWOBJ) to <paramref name="call"/>, so nothing in the file can run code or name a type to create.
/// Every length is checked against the remaining bytes before it is read.
/// </summary>
internal sealed class PickleReader(byte[] data, string path, Func<PickleGlobal, object?[], object?> call, Func<object?, object?> persistentLoad)
{
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];
    private int _position;

    public object? Load()
    {
        while (true)
        {
            byte op = U8();
            switch (op)
            {
                case 0x80: U8(); break; // PROTO
                case 0x95: Bytes(8); break; // FRAME: a length hint only
                case (byte)'.': return Stop();
                case (byte)'(': _marks.Push(_stack.Count); break; // MARK
                case (byte)'}': _stack.Add(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': _stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': _stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'N': _stack.Add(null); break;
                case 0x88: _stack.Add(true); break;
                case 0x89: _stack.Add(false); break;
                case (byte)'J': _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break; // BININT
                case (byte)'K': _stack.Add((long)U8()); break; // BININT1
                case (byte)'M': _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break; // BININT2
                case 0x8a: _stack.Add(Long1()); break; // LONG1
                case (byte)'G': _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break; // BINFLOAT
                case (byte)'X': _stack.Add(Text(Length(4))); break; // BINUNICODE
                case 0x8c: _stack.Add(Text(U8())); break; // SHORT_BINUNICODE
                case (byte)'T': _stack.Add(Encoding.Latin1.GetString(Bytes(Length(4)))); break; // BINSTRING
                case (byte)'U': _stack.Add(Encoding.Latin1.GetString(Bytes(U8()))); break; // SHORT_BINSTRING
                case (byte)'B': _stack.Add(Bytes(Length(4)).ToArray()); break; // BINBYTES
                case (byte)'C': _stack.Add(Bytes(U8()).ToArray()); break; // SHORT_BINBYTES
                case (byte)'q': _memo[U8()] = Peek(); break; // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case (byte)'h': _stack.Add(Memo(U8())); break; // BINGET
                case (byte)'j': _stack.Add(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4)))); break; // LONG_BINGET
                case (byte)'t': _stack.Add(PopMark().ToArray()); break; // TUPLE
                case 0x85: _stack.Add(new[] { Pop() }); break; // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'a': { var item = Pop(); As<List<object?>>(Peek(), "APPEND").Add(item); break; }
                case (byte)'e': { var items = PopMark(); As<List<object?>>(Peek(), "APPENDS").AddRange(items); break; }
                case (byte)'s': // SETITEM
                {
                    var value = Pop();
                    var key = Pop();
                    Set(As<PickleDict>(Peek(), "SETITEM"), key, value);
                    break;
                }
                case (byte)'u': // SETITEMS
                {
                    var items = PopMark();
                    var dict = As<PickleDict>(Peek(), "SETITEMS");
                    if (items.Count % 2 != 0)
                        throw SafeTensorsFile.Invalid(path, $"its pickle's SETITEMS before byte {_position} has an odd number of "
                            + $"items ({items.Count}): a key without its value");
                    for (int i = 0; i < items.Count; i += 2)
                        Set(dict, items[i], items[i + 1]);
                    break;
                }
                case (byte)'c': _stack.Add(new PickleGlobal(Line(), Line())); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop() as string;
                    var module = Pop() as string;
                    _stack.Add(new PickleGlobal(module ?? "", name ?? ""));
                    break;
                }
                case (byte)'Q': _stack.Add(persistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': // REDUCE
                case 0x81: // NEWOBJ
                {
                    var args = As<object?[]>(Pop(), "REDUCE arguments");
                    _stack.Add(call(As<PickleGlobal>(Pop(), "REDUCE callable"), args));
                    break;
                }
                case (byte)'b': Pop(); break; // BUILD: a state dict's _metadata (layer versions), not needed
                default:
                    throw SafeTensorsFile.Invalid(path,
                        $"its pickle uses opcode 0x{op:X2} at byte {_position - 1}, which a PyTorch state_dict does "
                        + "not contain");
            }
        }
    }

    /// <summary>STOP: the one result. Python ignores what else is left, but no pickler leaves anything.</summary>
    private object? Stop()
    {
        var result = Pop();
        if (_stack.Count > 0 || _marks.Count > 0)
            throw SafeTensorsFile.Invalid(path, $"its pickle leaves {_stack.Count} items and {_marks.Count} marks on the stack "
                + $"at STOP (byte {_position - 1})");
        return result;
    }

    private void Set(PickleDict dict, object? key, object? value)
        => dict.Set(key ?? throw SafeTensorsFile.Invalid(path, $"its pickle uses None as a dict key before byte {_position}"),
            value);

    private object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _marks.Peek() == _stack.Count))
            throw SafeTensorsFile.Invalid(path, $"its pickle stack underflows at byte {_position}");
        var value = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw SafeTensorsFile.Invalid(path, $"its pickle stack is empty at byte {_position}");

    private List<object?> PopMark()
    {
        if (_marks.Count == 0)
            throw SafeTensorsFile.Invalid(path, $"its pickle has no MARK before byte {_position}");
        int mark = _marks.Pop();
        var items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private object? Memo(long key) => _memo.TryGetValue(key, out var value) ? value
        : throw SafeTensorsFile.Invalid(path, $"its pickle refers to memo {key}, never stored");

    private T As<T>(object? value, string what) => value is T t ? t
        : throw SafeTensorsFile.Invalid(path,
            $"its pickle has {value?.GetType().Name ?? "None"} where {what} expects {typeof(T).Name}");

    private byte U8() => Bytes(1)[0];

    private int Length(int bytes)
    {
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(Bytes(bytes));
        if (length > data.Length - _position)
            throw SafeTensorsFile.Invalid(path, $"its pickle claims a {length}-byte item with {data.Length - _position} bytes left");
        return (int)length;
    }

    private ReadOnlySpan<byte> Bytes(int count)
    {
        if (count > data.Length - _position)
            throw SafeTensorsFile.Invalid(path, "its pickle is truncated");
        var span = data.AsSpan(_position, count);
        _position += count;
        return span;
    }

    private string Text(int count) => Encoding.UTF8.GetString(Bytes(count));

    private string Line()
    {
        int end = Array.IndexOf(data, (byte)'\n', _position);
        if (end < 0)
            throw SafeTensorsFile.Invalid(path, "its pickle is truncated");
        string line = Encoding.UTF8.GetString(data, _position, end - _position);
        _position = end + 1;
        return line;
    }

    private long Long1()
    {
        int n = U8();
        if (n > 8)
            throw SafeTensorsFile.Invalid(path, $"its pickle holds a {n}-byte integer");
        var bytes = Bytes(n);
        long value = 0;
        for (int i = n - 1; i >= 0; i--)
            value = (value << 8) | bytes[i];
        if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0)
            value -= 1L << (8 * n);
        return value;
    }
}

/// <summary>A Python global (module and name) a pickle refers to.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A Python dict read from a pickle, keys in insertion order.</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = [];

    public List<(object Key, object? Value)> Items { get; } = [];

    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int at))
            Items[at] = (key, value);
        else
        {
            _index[key] = Items.Count;
            Items.Add((key, value));
        }
    }
}
