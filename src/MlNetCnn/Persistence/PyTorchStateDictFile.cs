using System.Globalization;
using System.IO.Compression;
using TorchSharp;
using System.Text;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence;

/// <summary>
/// PyTorch state_dict files (<c>torch.save(model.state_dict(), "x.pt")</c>, the zip format of PyTorch 1.6 and
/// later). Reading uses the library's own restricted unpickler (<see cref="PickleReader"/>): only tensors, dicts and
/// the few globals a state_dict names are accepted, every storage is checked against its zip entry (stored, of the
/// size its element count says) and every tensor's extent against its storage before any tensor is allocated.
/// Writing produces what <c>torch.save</c> does (protocol-2 pickle of an OrderedDict of <c>_rebuild_tensor_v2</c>
/// calls, one stored zip entry per tensor), so <c>torch.load</c> reads the result; entries are stored rather than
/// deflated, which keeps a 500 MB VGG file to the time of a copy.
/// </summary>
internal static class PyTorchStateDictFile
{
    /// <summary>A typed storage: entry <c>data/{Key}</c> of <paramref name="Count"/> elements.</summary>
    internal sealed record Storage(ScalarType Type, string Key, long Count);

    /// <summary>A tensor as the pickle describes it: a view (offset, shape, strides in elements) of a storage.</summary>
    internal sealed record TensorReference(Storage Storage, long Offset, long[] Shape, long[] Stride);

    public static Dictionary<string, Tensor> Read(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> signature = stackalloc byte[4];
        if (file.Length < 4 || file.Read(signature) != 4 || signature[0] != 'P' || signature[1] != 'K')
            throw SafeTensorsFile.Invalid(path, "it is not a zip archive; only the format of torch.save since PyTorch 1.6 is read (re-save it with a current PyTorch)");
        file.Position = 0;
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw SafeTensorsFile.Invalid(path, $"its zip structure is damaged ({e.Message})", e);
        }
        using (archive)
        {
            var pickleEntry = archive.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                ?? throw SafeTensorsFile.Invalid(path, "its archive has no <name>/data.pkl");
            string prefix = pickleEntry.FullName[..^"data.pkl".Length];
            var pickle = ReadEntry(path, pickleEntry, pickleEntry.Length);
            var reader = new PickleReader(pickle, path, (callable, args) => Call(path, callable, args), id => Persistent(path, archive, prefix, id));
            object? root = reader.Load();
            var state = StateDictionary(path, root);
            return Materialize(path, archive, prefix, state);
        }
    }

    /// <summary>Writes the tensors as a state_dict file <c>torch.load</c> reads, atomically.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        var views = tensors.Select((t, i) => (t.Name, new TensorReference(
            new Storage(t.Tensor.dtype, i.ToString(CultureInfo.InvariantCulture), t.Tensor.NumberOfElements),
            0, t.Tensor.shape, ContiguousStrides(t.Tensor.shape)))).ToList();
        AtomicFile.Write(path, stream => WriteArchive(stream, StateDictPickle(views), tensors.Count, (i, entry) =>
        {
            using var cpu = tensors[i].Tensor.detach().cpu().contiguous();
            entry.Write(cpu.bytes);
        }));
    }

    /// <summary>The zip archive <c>torch.save</c> writes: version, data.pkl, then storage entries data/0 to data/n-1.</summary>
    internal static void WriteArchive(Stream stream, byte[] pickle, int storages, Action<int, Stream> writeStorage)
    {
        using var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        const string folder = "archive/";
        using (var version = archive.CreateEntry(folder + "version", CompressionLevel.NoCompression).Open())
            version.Write("3\n"u8);
        using (var entry = archive.CreateEntry(folder + "data.pkl", CompressionLevel.NoCompression).Open())
            entry.Write(pickle);
        for (int i = 0; i < storages; i++)
        {
            string key = i.ToString(CultureInfo.InvariantCulture);
            using var entry = archive.CreateEntry(folder + "data/" + key, CompressionLevel.NoCompression).Open();
            writeStorage(i, entry);
        }
    }

    /// <summary>The pickle of an OrderedDict of tensors, each a <c>_rebuild_tensor_v2</c> call on its view.</summary>
    internal static byte[] StateDictPickle(IEnumerable<(string Name, TensorReference View)> tensors)
    {
        var pickle = new MemoryStream();
        void Op(char op) => pickle.WriteByte((byte)op);
        void Global(string module, string name) { Op('c'); pickle.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void Text(string value)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            Op('X');
            pickle.Write(BitConverter.GetBytes(bytes.Length));
            pickle.Write(bytes);
        }
        void Integer(long value)
        {
            if (value is >= 0 and < 256) { Op('K'); pickle.WriteByte((byte)value); }
            else if (value is >= int.MinValue and <= int.MaxValue) { Op('J'); pickle.Write(BitConverter.GetBytes((int)value)); }
            else { pickle.WriteByte(0x8a); pickle.WriteByte(8); pickle.Write(BitConverter.GetBytes(value)); }
        }
        void Tuple(IEnumerable<long> values) { Op('('); foreach (long v in values) Integer(v); Op('t'); }
        void EmptyOrderedDict() { Global("collections", "OrderedDict"); Op(')'); Op('R'); }

        pickle.WriteByte(0x80);
        pickle.WriteByte(2);
        EmptyOrderedDict();
        foreach (var (name, view) in tensors)
        {
            Op('(');
            Text(name);
            Global("torch._utils", "_rebuild_tensor_v2");
            Op('(');
            Op('(');
            Text("storage");
            Global("torch", StorageName(view.Storage.Type));
            Text(view.Storage.Key);
            Text("cpu");
            Integer(view.Storage.Count);
            Op('t');
            Op('Q'); // BINPERSID
            Integer(view.Offset);
            Tuple(view.Shape);
            Tuple(view.Stride);
            pickle.WriteByte(0x89); // False: requires_grad
            EmptyOrderedDict();
            Op('t');
            Op('R');
            Op('u');
        }
        Op('.');
        return pickle.ToArray();
    }

    private static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    private static string StorageName(ScalarType type) => type switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"Tensors of type {type} cannot be written to a PyTorch file."),
    };

    private static object? Call(string path, PickleGlobal callable, object?[] args)
    {
        switch (callable.ToString())
        {
            case "collections.OrderedDict":
                return new PickleDict();
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                if (args.Length < 4 || args[0] is not Storage storage || args[1] is not long offset || args[2] is not object?[] shape || args[3] is not object?[] stride
                    || shape.Length != stride.Length || shape.Any(d => d is not long) || stride.Any(d => d is not long))
                    throw SafeTensorsFile.Invalid(path, "a tensor in it has malformed metadata");
                return new TensorReference(storage, offset, shape.Cast<long>().ToArray(), stride.Cast<long>().ToArray());
            case "torch._utils._rebuild_parameter":
                return args.Length > 0 ? args[0] : null;
            default:
                throw SafeTensorsFile.Invalid(path, $"it pickles {callable}, which is not part of a state_dict; save the weights with torch.save(model.state_dict(), path)");
        }
    }

    private static Storage Persistent(string path, ZipArchive archive, string prefix, object? id)
    {
        if (id is not object?[] { Length: >= 5 } tuple || tuple[0] is not "storage" || tuple[1] is not PickleGlobal type || tuple[2] is not string key || tuple[4] is not long count || count < 0)
            throw SafeTensorsFile.Invalid(path, "a storage reference in its pickle is malformed");
        var scalarType = type.Name switch
        {
            "FloatStorage" => ScalarType.Float32,
            "DoubleStorage" => ScalarType.Float64,
            "HalfStorage" => ScalarType.Float16,
            "BFloat16Storage" => ScalarType.BFloat16,
            "LongStorage" => ScalarType.Int64,
            "IntStorage" => ScalarType.Int32,
            "ShortStorage" => ScalarType.Int16,
            "CharStorage" => ScalarType.Int8,
            "ByteStorage" => ScalarType.Byte,
            "BoolStorage" => ScalarType.Bool,
            _ => throw SafeTensorsFile.Invalid(path, $"it holds a storage of type {type}, which is not supported"),
        };
        var entry = archive.GetEntry(prefix + "data/" + key) ?? throw SafeTensorsFile.Invalid(path, $"its storage '{key}' has no entry data/{key}");
        long bytes = SafeTensorsFile.TensorBytes(path, key, [count], scalarType);
        if (entry.Length != bytes)
            throw SafeTensorsFile.Invalid(path, $"its storage '{key}' should hold {count} {type.Name} elements ({bytes} bytes) but the entry has {entry.Length}");
        return new Storage(scalarType, key, count);
    }

    private static PickleDict StateDictionary(string path, object? root)
    {
        if (root is not PickleDict dict)
            throw SafeTensorsFile.Invalid(path, "it does not hold a dict of tensors (a state_dict)");
        // A training checkpoint often wraps the state_dict: {"state_dict": {...}} or {"model": {...}}.
        if (!dict.Items.Any(i => i.Value is TensorReference))
        {
            var inner = dict.Items.FirstOrDefault(i => i.Key is "state_dict" or "model" && i.Value is PickleDict).Value as PickleDict;
            if (inner is not null)
                return inner;
        }
        return dict;
    }

    private static Dictionary<string, Tensor> Materialize(string path, ZipArchive archive, string prefix, PickleDict state)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        bool dataParallel = state.Items.Count > 0 && state.Items.All(i => i.Key is string k && k.StartsWith("module.", StringComparison.Ordinal));
        try
        {
            foreach (var (key, value) in state.Items)
            {
                if (key is not string name || value is not TensorReference reference)
                    continue;
                CheckExtent(path, name, reference);
                if (!storages.TryGetValue(reference.Storage.Key, out var storage))
                {
                    var entry = archive.GetEntry(prefix + "data/" + reference.Storage.Key)!;
                    storage = SafeTensorsFile.FromBytes(ReadEntry(path, entry, entry.Length), reference.Storage.Type, [reference.Storage.Count]);
                    storages.Add(reference.Storage.Key, storage);
                }
                var tensor = reference.Shape.Length == 0 && reference.Storage.Count > 0
                    ? storage[reference.Offset].clone()
                    : storage.as_strided(reference.Shape, reference.Stride, reference.Offset).contiguous().clone();
                tensors[dataParallel ? name["module.".Length..] : name] = tensor;
            }
        }
        catch
        {
            foreach (var t in tensors.Values)
                t.Dispose();
            throw;
        }
        finally
        {
            foreach (var s in storages.Values)
                s.Dispose();
        }
        return tensors;
    }

    /// <summary>The last element the view reads must lie inside its storage.</summary>
    private static void CheckExtent(string path, string name, TensorReference reference)
    {
        if (reference.Offset < 0 || reference.Shape.Any(d => d < 0) || reference.Stride.Any(s => s < 0))
            throw SafeTensorsFile.Invalid(path, $"tensor '{name}' has a negative offset, size or stride");
        if (reference.Shape.Contains(0))
            return;
        long last = reference.Offset;
        for (int i = 0; i < reference.Shape.Length; i++)
        {
            long step = reference.Shape[i] - 1;
            if (reference.Stride[i] != 0 && step > (long.MaxValue - last) / reference.Stride[i])
                throw SafeTensorsFile.Invalid(path, $"tensor '{name}' has an impossible shape");
            last += step * reference.Stride[i];
        }
        if (last >= reference.Storage.Count)
            throw SafeTensorsFile.Invalid(path, $"tensor '{name}' of shape [{string.Join(", ", reference.Shape)}] reads element {last} of a storage of {reference.Storage.Count}");
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, long expected)
    {
        // Deflate expands at most about 1,032 to 1, so a larger declared size is forged: refused before allocating.
        if (entry.Length != expected || expected > Array.MaxLength || expected > entry.CompressedLength * 1032L + 64)
            throw SafeTensorsFile.Invalid(path, $"its entry '{entry.FullName}' declares {entry.Length} bytes from {entry.CompressedLength} stored, which is impossible");
        var bytes = new byte[expected];
        try
        {
            using var stream = entry.Open();
            stream.ReadExactly(bytes);
            if (stream.ReadByte() != -1)
                throw new InvalidDataException("it holds more bytes than it declares");
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or IOException)
        {
            throw SafeTensorsFile.Invalid(path, $"its entry '{entry.FullName}' is truncated or damaged ({e.Message})", e);
        }
        return bytes;
    }
}
