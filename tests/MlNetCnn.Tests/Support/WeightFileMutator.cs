using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using MlNetCnn.Persistence;

namespace MlNetCnn.Tests;

/// <summary>
/// Forges weight files from a valid one, as a fuzzer: blind byte mutations (bit flips, cuts, extreme integers, inserted
/// and deleted runs) and mutations that know the format, so they get past the checksums and parsers that blind ones
/// rarely pass: zip header fields rewritten in place, pickle opcodes edited and re-zipped with fresh CRCs, safetensors
/// JSON headers edited and re-framed. Each mutation returns the forged bytes and a description to reproduce it by.
/// </summary>
internal sealed class WeightFileMutator(Random random)
{
    private static readonly long[] ExtremeIntegers =
    [
        0, 1, -1, 2, 3, 7, 255, 256, 65535, 65536, int.MaxValue, 1L + int.MaxValue, uint.MaxValue, 2_000_000_000,
        1L << 30, 1L << 40, 1L << 62, long.MaxValue, long.MinValue,
    ];

    /// <summary>A mutation of a .pt file: <paramref name="file"/>, its pickle and its storages (data/i).</summary>
    public (byte[] Bytes, string Description) PyTorch(byte[] file, byte[] pickle, IReadOnlyList<byte[]> storages)
    {
        switch (random.Next(4))
        {
            case 0:
                return Blind(file);
            case 1:
            {
                var fields = ZipHeaderEditor.Fields(file);
                var field = fields[random.Next(fields.Count)];
                var forged = (byte[])file.Clone();
                long old = field.Width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(forged.AsSpan(field.Offset))
                    : BinaryPrimitives.ReadUInt32LittleEndian(forged.AsSpan(field.Offset));
                long value = Extreme(old);
                if (field.Width == 2)
                    BinaryPrimitives.WriteUInt16LittleEndian(forged.AsSpan(field.Offset), (ushort)value);
                else
                    BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(field.Offset), (uint)value);
                return (forged, $"zip field {field} from {old} to {value}");
            }
            case 2:
            {
                var (forged, description) = random.Next(2) == 0 ? Blind(pickle) : PickleEdit(pickle);
                return (Archive(forged, storages), "pickle: " + description);
            }
            default:
            {
                // A storage cut, grown or dropped, or the pickle's own entry duplicated by a second storage.
                int index = random.Next(storages.Count);
                var changed = storages.ToList();
                string description;
                switch (random.Next(3))
                {
                    case 0:
                        changed[index] = changed[index][..random.Next(changed[index].Length)];
                        description = $"storage {index} cut to {changed[index].Length} bytes";
                        break;
                    case 1:
                        changed[index] = [.. changed[index], .. new byte[random.Next(1, 64)]];
                        description = $"storage {index} grown to {changed[index].Length} bytes";
                        break;
                    default:
                        changed.RemoveAt(changed.Count - 1);
                        description = $"storage {changed.Count} dropped";
                        break;
                }
                return (Archive(pickle, changed), description);
            }
        }
    }

    /// <summary>A mutation of a .safetensors file: blind, of its header length, or of its JSON header.</summary>
    public (byte[] Bytes, string Description) SafeTensors(byte[] file)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, headerLength).TrimEnd(' ');
        byte[] data = file[(8 + headerLength)..];
        switch (random.Next(3))
        {
            case 0:
                return Blind(file);
            case 1:
            {
                var forged = (byte[])file.Clone();
                long value = Extreme(headerLength);
                BinaryPrimitives.WriteInt64LittleEndian(forged, value);
                return (forged, $"header length from {headerLength} to {value}");
            }
            default:
            {
                var (json, description) = HeaderEdit(header);
                return (Frame(json, data), "header: " + description);
            }
        }
    }

    /// <summary>A .pt archive of <paramref name="pickle"/> and <paramref name="storages"/>, CRCs fresh.</summary>
    private static byte[] Archive(byte[] pickle, IReadOnlyList<byte[]> storages)
    {
        using var stream = new MemoryStream();
        PyTorchStateDictFile.WriteArchive(stream, pickle, storages.Count, (i, entry) => entry.Write(storages[i]));
        return stream.ToArray();
    }

    /// <summary>A safetensors file: header length, the header padded to 8 bytes, the data.</summary>
    private static byte[] Frame(string header, byte[] data)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        var file = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        data.CopyTo(file, 8 + padded);
        return file;
    }

    private long Extreme(long old) => random.Next(4) switch
    {
        0 => old + random.Next(-2, 3),
        1 => old * (random.Next(2) == 0 ? 2 : 1000),
        2 => random.NextInt64(),
        _ => ExtremeIntegers[random.Next(ExtremeIntegers.Length)],
    };

    private (byte[] Bytes, string Description) Blind(byte[] original)
    {
        var bytes = (byte[])original.Clone();
        int at = random.Next(bytes.Length);
        switch (random.Next(5))
        {
            case 0:
            {
                int flips = random.Next(1, 9);
                for (int i = 0; i < flips; i++)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return (bytes, $"{flips} bits flipped");
            }
            case 1:
                return (bytes[..at], $"cut to {at} bytes");
            case 2:
            {
                int width = new[] { 1, 2, 4, 8 }[random.Next(4)];
                long value = Extreme(0);
                Span<byte> little = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(little, value);
                little[..Math.Min(width, bytes.Length - at)].CopyTo(bytes.AsSpan(at));
                return (bytes, $"{width}-byte {value} written at {at}");
            }
            case 3:
            {
                var run = new byte[random.Next(1, 17)];
                random.NextBytes(run);
                return ([.. bytes.AsSpan(0, at), .. run, .. bytes.AsSpan(at)], $"{run.Length} bytes inserted at {at}");
            }
            default:
            {
                int count = Math.Min(random.Next(1, 17), bytes.Length - at);
                return ([.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + count)], $"{count} bytes deleted at {at}");
            }
        }
    }

    /// <summary>The pickle's opcodes (start, length), of the subset the writer emits; another ends the list.</summary>
    private static List<(int Start, int Length)> Opcodes(byte[] pickle)
    {
        var opcodes = new List<(int, int)>();
        for (int at = 0; at < pickle.Length;)
        {
            int length = pickle[at] switch
            {
                0x80 or (byte)'K' => 2,
                (byte)'J' => 5,
                0x8a => at + 1 < pickle.Length ? 2 + pickle[at + 1] : 1,
                (byte)'X' => at + 5 <= pickle.Length
                    ? 5 + BinaryPrimitives.ReadInt32LittleEndian(pickle.AsSpan(at + 1))
                    : 1,
                (byte)'c' => GlobalLength(pickle, at),
                _ => 1,
            };
            if (length <= 0 || at + length > pickle.Length)
                break;
            opcodes.Add((at, length));
            at += length;
        }
        return opcodes;
    }

    private static int GlobalLength(byte[] pickle, int at)
    {
        int module = Array.IndexOf(pickle, (byte)'\n', at);
        int name = module < 0 ? -1 : Array.IndexOf(pickle, (byte)'\n', module + 1);
        return name < 0 ? -1 : name + 1 - at;
    }

    private static readonly string[] Globals =
    [
        "torch\nFloatStorage", "torch\nDoubleStorage", "torch\nByteStorage", "torch\nLongStorage", "torch\nHalfStorage",
        "torch\nComplexFloatStorage", "torch._utils\n_rebuild_tensor_v2", "torch._utils\n_rebuild_parameter",
        "collections\nOrderedDict", "builtins\neval", "torch\nTensor",
    ];

    // MARK, TUPLE, SETITEMS, STOP, SETITEM, REDUCE, BINPERSID, EMPTY_TUPLE/DICT/LIST, NONE, APPEND(S), BINGET, BINPUT,
    // BUILD, TUPLE1-3, STACK_GLOBAL, MEMOIZE: the opcodes that move the stack.
    private static readonly byte[] InsertedOpcodes = [.. "(tu.sRQ)}N]aehqb"u8, 0x85, 0x86, 0x87, 0x93, 0x94];

    /// <summary>An opcode of the pickle replaced, repeated, dropped or moved.</summary>
    private (byte[] Bytes, string Description) PickleEdit(byte[] pickle)
    {
        var opcodes = Opcodes(pickle);
        var (start, length) = opcodes[random.Next(opcodes.Count)];
        byte[] before = pickle[..start], op = pickle[start..(start + length)], after = pickle[(start + length)..];
        byte[] replacement;
        string description;
        switch (op[0], random.Next(3))
        {
            case ((byte)'K' or (byte)'J' or 0x8a, _):
            {
                long value = Extreme(op[0] == 'K' ? op[1] : 0);
                replacement = [0x8a, 8, .. BitConverter.GetBytes(value)];
                description = $"integer at {start} set to {value}";
                break;
            }
            case ((byte)'c', 0):
            {
                string global = Globals[random.Next(Globals.Length)];
                replacement = [(byte)'c', .. Encoding.ASCII.GetBytes(global + "\n")];
                description = $"global at {start} set to {global.Replace('\n', '.')}";
                break;
            }
            case ((byte)'X', 0):
            {
                // Storage keys and tensor names: another key (a storage shared or missing) or a repeated name.
                string text = random.Next(2) == 0
                    ? random.Next(-1, 4).ToString(System.Globalization.CultureInfo.InvariantCulture)
                    : "fc.weight";
                replacement = [(byte)'X', .. BitConverter.GetBytes(text.Length), .. Encoding.UTF8.GetBytes(text)];
                description = $"text at {start} set to '{text}'";
                break;
            }
            case (_, 0):
                replacement = [.. op, .. op];
                description = $"opcode at {start} repeated";
                break;
            case (_, 1):
                replacement = [];
                description = $"opcode at {start} dropped";
                break;
            default:
            {
                byte added = InsertedOpcodes[random.Next(InsertedOpcodes.Length)];
                replacement = added is (byte)'h' or (byte)'q' ? [added, (byte)random.Next(4)] : [added];
                description = $"opcode 0x{added:X2} inserted at {start}";
                replacement = [.. replacement, .. op];
                break;
            }
        }
        return ([.. before, .. replacement, .. after], description);
    }

    private static readonly string[] DataTypes =
        ["F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "", "C64"];

    /// <summary>One tensor's dtype, shape, data_offsets or name edited, or a tensor dropped or repeated.</summary>
    private (string Header, string Description) HeaderEdit(string header)
    {
        var root = JsonNode.Parse(header)!.AsObject();
        var names = root.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        string name = names[random.Next(names.Count)];
        var tensor = root[name]!.AsObject();
        var shape = tensor["shape"]!.AsArray();
        var offsets = tensor["data_offsets"]!.AsArray();
        string description;
        switch (random.Next(7))
        {
            case 0:
                string dtype = DataTypes[random.Next(DataTypes.Length)];
                tensor["dtype"] = dtype;
                description = $"'{name}' dtype {dtype}";
                break;
            case 1 when shape.Count > 0:
            {
                int d = random.Next(shape.Count);
                long value = Extreme(shape[d]!.GetValue<long>());
                shape[d] = value;
                description = $"'{name}' dimension {d} set to {value}";
                break;
            }
            case 2:
            {
                int extra = random.Next(2) == 0 ? random.Next(1, 4) : random.Next(60, 1000);
                for (int i = 0; i < extra; i++)
                    shape.Add(1);
                description = $"'{name}' given {extra} more dimensions of 1";
                break;
            }
            case 3:
            {
                int i = random.Next(2);
                long value = Extreme(offsets[i]!.GetValue<long>());
                offsets[i] = value;
                description = $"'{name}' data_offsets[{i}] set to {value}";
                break;
            }
            case 4:
            {
                // Another tensor's range: an overlap.
                string other = names[random.Next(names.Count)];
                tensor["data_offsets"] = root[other]!["data_offsets"]!.DeepClone();
                description = $"'{name}' given the data_offsets of '{other}'";
                break;
            }
            case 5:
                root.Remove(name);
                description = $"'{name}' dropped";
                break;
            default:
            {
                // JSON objects cannot hold a name twice: the repeat is spliced into the text.
                string text = root.ToJsonString();
                string repeat = $",\"{name}\":{tensor.ToJsonString()}";
                return (text[..^1] + repeat + "}", $"'{name}' repeated");
            }
        }
        return (root.ToJsonString(), description);
    }
}
