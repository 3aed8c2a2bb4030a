using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name to its
/// dtype, shape and byte range, then the raw little-endian data. Every size is checked against the file before
/// anything is allocated, so a forged or truncated file is an <see cref="InvalidDataException"/> naming it.
/// </summary>
internal static class SafeTensorsFile
{
    // A header larger than this is not a weights file (the format's own reference reader caps it at 100 MB).
    private const long MaximumHeaderBytes = 100_000_000;

    public static Dictionary<string, Tensor> Read(string path)
    {
        using var file = RegularFile.OpenRead(path, problem => SafeTensorsFile.Invalid(path, problem));
        long length = file.Length;
        if (length < 8)
            throw Invalid(path, $"it has {length} bytes, fewer than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        file.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaximumHeaderBytes, length - 8))
            throw Invalid(path, $"its header claims {headerLength} bytes but the file has {length - 8} after the length field");
        var header = new byte[(int)headerLength];
        file.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var json = JsonDocument.Parse(header);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw Invalid(path, "its header is not a JSON object");
            foreach (var property in json.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                    continue;
                if (!names.Add(property.Name))
                    throw Invalid(path, $"its header names tensor '{property.Name}' twice");
                var value = property.Value;
                string dtype = value.GetProperty("dtype").GetString() ?? "";
                var type = TypeOf(dtype)
                    ?? throw Invalid(path,
                        $"tensor '{property.Name}' has dtype '{dtype}'; supported: F32, F64, F16, BF16, I64, I32, I16, "
                        + "I8, U8, BOOL");
                var shapeElement = value.GetProperty("shape");
                CheckRank(path, property.Name, shapeElement.GetArrayLength());
                long[] shape = shapeElement.EnumerateArray().Select(d => d.GetInt64()).ToArray();
                long[] offsets = value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                    throw Invalid(path,
                        $"tensor '{property.Name}' has data_offsets [{string.Join(", ", offsets)}] outside the "
                        + $"{dataLength} data bytes");
                long expected = TensorBytes(path, property.Name, shape, type);
                if (offsets[1] - offsets[0] != expected)
                    throw Invalid(path,
                        $"tensor '{property.Name}' of shape [{string.Join(", ", shape)}] ({dtype}) needs {expected} "
                        + $"bytes but its data_offsets span {offsets[1] - offsets[0]}");
                entries.Add(new(property.Name, type, shape, offsets[0], offsets[1]));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Invalid(path, $"its JSON header is malformed ({e.Message})", e);
        }
        CheckTiling(path, entries, dataLength);

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, type, shape, begin, end) in entries)
            {
                var bytes = new byte[end - begin];
                file.Position = dataStart + begin;
                file.ReadExactly(bytes);
                tensors.Add(name, FromBytes(bytes, type, shape));
            }
        }
        catch (Exception e)
        {
            foreach (var t in tensors.Values)
                t.Dispose();
            // The file was checked whole; only a file cut while it is read ends early.
            if (e is EndOfStreamException)
                throw Invalid(path, "it was truncated while being read", e);
            throw;
        }
        return tensors;
    }

    private readonly record struct Entry(string Name, ScalarType Type, long[] Shape, long Begin, long End);

    /// <summary>
    /// The format's rule: in order of offset, the tensors' byte ranges follow one another from the first data byte to
    /// the last, so no byte is read as two tensors (which would let a small file load as many times its size) and none
    /// is left over.
    /// </summary>
    private static void CheckTiling(string path, List<Entry> entries, long dataLength)
    {
        long next = 0;
        string previous = "";
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < next)
                throw Invalid(path, $"tensors '{previous}' and '{entry.Name}' overlap in bytes {entry.Begin} to {next} "
                    + "of its data");
            if (entry.Begin > next)
                throw Invalid(path, $"bytes {next} to {entry.Begin} of its data belong to no tensor");
            (next, previous) = (entry.End, entry.Name);
        }
        if (next != dataLength)
            throw Invalid(path, $"bytes {next} to {dataLength} of its data belong to no tensor");
    }

    /// <summary>Writes the tensors (CPU copies, in the given order) as a safetensors file, atomically.</summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, tensor) in list)
        {
            long bytes = tensor.NumberOfElements * tensor.ElementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = NameOf(tensor.dtype),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        // The format pads the header with spaces so the data starts 8-byte aligned.
        int padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
            stream.Write(prefix);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++)
                stream.WriteByte((byte)' ');
            foreach (var (_, tensor) in list)
            {
                using var cpu = tensor.detach().cpu().contiguous();
                stream.Write(cpu.bytes);
            }
        });
    }

    /// <summary>Bytes of a tensor of this shape and type, with every dimension checked (no overflow, none negative).</summary>
    internal static long TensorBytes(string path, string name, long[] shape, ScalarType type)
    {
        CheckRank(path, name, shape.Length);
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0 || (d > 0 && count > long.MaxValue / 16 / d))
                throw Invalid(path, $"tensor '{name}' has an impossible shape [{string.Join(", ", shape)}]");
            count *= d;
        }
        return count * ElementSize(type);
    }

    /// <summary>libtorch's limit on dimensions, which the model-file reader applies too.</summary>
    internal static void CheckRank(string path, string name, int rank)
    {
        if (rank > TorchStateFormat.MaximumRank)
            throw Invalid(path, $"tensor '{name}' has {rank} dimensions; at most {TorchStateFormat.MaximumRank} "
                + "are supported");
    }

    internal static long ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    /// <summary>A tensor of <paramref name="shape"/> holding <paramref name="bytes"/> (little-endian, C order; length already checked).</summary>
    internal static Tensor FromBytes(byte[] bytes, ScalarType type, long[] shape)
    {
        var tensor = empty(shape, type);
        if (bytes.Length > 0)
            tensor.bytes = bytes;
        return tensor;
    }

    private static ScalarType? TypeOf(string dtype) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F64" => ScalarType.Float64,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => null,
    };

    private static string NameOf(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float64 => "F64",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensors of type {type} cannot be written as safetensors."),
    };

    internal static InvalidDataException Invalid(string path, string problem, Exception? inner = null)
        => new($"'{path}' is not a valid weights file: {problem}.", inner);
}
