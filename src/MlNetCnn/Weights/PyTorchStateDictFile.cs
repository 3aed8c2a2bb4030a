using System.Globalization;
using System.IO.Compression;
using TorchSharp;
using System.Text;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence;

/// <summary>
/// PyTorch state_dict files (<c>torch.save(model.state_dict(), "x.pt")</c>, the zip format of PyTorch 1.6 and
/// later). Reading uses the library's own restricted unpickler (<see cref="PickleReader"/>): only tensors, dicts and
/// the few globals a state_dict names are accepted, the archive's declared sizes are checked against the file
/// (<see cref="CheckedZipArchive"/>), every storage against its zip entry (of the size its element count says) and
/// every view against its storage (in bounds, no more elements than it holds) before any tensor is allocated.
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

    // The tensors may take at most this many times the bytes of the storages they view (tied weights view one twice).
    private const long MaterializedPerStorageByte = 4, MaterializedSlack = 1 << 20;

    public static Dictionary<string, Tensor> Read(string path)
    {
        using var file = RegularFile.OpenRead(path, problem => SafeTensorsFile.Invalid(path, problem));
        Span<byte> signature = stackalloc byte[4];
        if (file.Length < 4 || file.Read(signature) != 4 || signature[0] != 'P' || signature[1] != 'K')
            throw SafeTensorsFile.Invalid(path,
                "it is not a zip archive; only the format of torch.save since PyTorch 1.6 is read (re-save it with a "
                + "current PyTorch)");
        file.Position = 0;
        using var archive = CheckedZipArchive.Open(path, file);
        var pickleEntry = archive.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                && e.FullName.Count(c => c == '/') == 1)
            ?? throw SafeTensorsFile.Invalid(path, "its archive has no <name>/data.pkl");
        string prefix = pickleEntry.FullName[..^"data.pkl".Length];
        var storages = new Dictionary<string, Storage>(StringComparer.Ordinal);
        var reader = new PickleReader(archive.Read(pickleEntry), path, (callable, args) => Call(path, callable, args),
            id => Persistent(path, archive, prefix, storages, id));
        var state = StateDictionary(path, reader.Load());
        return Materialize(path, archive, prefix, state);
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
                if (args.Length < 4 || args[0] is not Storage storage || args[1] is not long offset
                    || args[2] is not object?[] shape || args[3] is not object?[] stride
                    || shape.Length != stride.Length || shape.Any(d => d is not long) || stride.Any(d => d is not long))
                    throw SafeTensorsFile.Invalid(path, "a tensor in it has malformed metadata");
                return new TensorReference(storage, offset, shape.Cast<long>().ToArray(), stride.Cast<long>().ToArray());
            case "torch._utils._rebuild_parameter":
                return args.Length > 0 ? args[0] : null;
            default:
                throw SafeTensorsFile.Invalid(path,
                    $"it pickles {callable}, which is not part of a state_dict; save the weights with "
                    + "torch.save(model.state_dict(), path)");
        }
    }

    /// <summary>
    /// The storage a persistent id names. A storage is its key, type and size together: PyTorch refuses to save one
    /// storage as two types, so a key seen again with another type or size is a forgery that would read the same
    /// bytes two ways.
    /// </summary>
    private static Storage Persistent(
        string path, CheckedZipArchive archive, string prefix, Dictionary<string, Storage> storages, object? id)
    {
        if (id is not object?[] { Length: >= 5 } tuple || tuple[0] is not "storage" || tuple[1] is not PickleGlobal type
            || tuple[2] is not string key || tuple[4] is not long count || count < 0)
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
        if (storages.TryGetValue(key, out var known))
        {
            if (known.Type != scalarType || known.Count != count)
                throw SafeTensorsFile.Invalid(path, $"its storage '{key}' is referenced as {known.Count} {known.Type} elements "
                    + $"and as {count} {scalarType} elements");
            return known;
        }
        var entry = archive.Find(prefix + "data/" + key)
            ?? throw SafeTensorsFile.Invalid(path, $"its storage '{key}' has no entry data/{key}");
        long bytes = SafeTensorsFile.TensorBytes(path, key, [count], scalarType);
        if (entry.Length != bytes)
            throw SafeTensorsFile.Invalid(path,
                $"its storage '{key}' should hold {count} {type.Name} elements ({bytes} bytes) but the entry has "
                + $"{entry.Length}");
        var storage = new Storage(scalarType, key, count);
        storages.Add(key, storage);
        return storage;
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

    private static Dictionary<string, Tensor> Materialize(
        string path, CheckedZipArchive archive, string prefix, PickleDict state)
    {
        // Every view is checked, and what they take together, before any storage is read.
        var views = new List<(string Name, TensorReference Reference)>();
        long materialized = 0;
        var viewed = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, value) in state.Items)
        {
            if (key is not string name || value is not TensorReference reference)
                continue;
            long elements = CheckView(path, name, reference);
            long elementSize = SafeTensorsFile.ElementSize(reference.Storage.Type);
            materialized += elements * elementSize;
            viewed[reference.Storage.Key] = reference.Storage.Count * elementSize;
            views.Add((name, reference));
        }
        long storageBytes = viewed.Values.Sum();
        if (materialized > MaterializedPerStorageByte * storageBytes + MaterializedSlack)
            throw SafeTensorsFile.Invalid(path, $"its tensors view {storageBytes} bytes of storage as {materialized} bytes, "
                + $"more than {MaterializedPerStorageByte} times over");

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        bool dataParallel = state.Items.Count > 0 && state.Items.All(i => i.Key is string k && k.StartsWith("module.", StringComparison.Ordinal));
        try
        {
            foreach (var (name, reference) in views)
            {
                if (!storages.TryGetValue(reference.Storage.Key, out var storage))
                {
                    var entry = archive.Find(prefix + "data/" + reference.Storage.Key)!;
                    var bytes = archive.Read(entry);
                    storage = SafeTensorsFile.FromBytes(bytes, reference.Storage.Type, [reference.Storage.Count]);
                    storages.Add(reference.Storage.Key, storage);
                }
                tensors[dataParallel ? name["module.".Length..] : name] = ContiguousCopy(storage, reference);
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

    /// <summary>A contiguous copy of the view, owning its memory (the storage is freed once all are read).</summary>
    private static Tensor ContiguousCopy(Tensor storage, TensorReference reference)
    {
        if (reference.Shape.Contains(0))
            return empty(reference.Shape, reference.Storage.Type);
        if (reference.Shape.Length == 0)
            return storage[reference.Offset].clone();
        using var view = storage.as_strided(reference.Shape, reference.Stride, reference.Offset);
        using var dense = view.contiguous();
        return dense.clone();
    }

    /// <summary>
    /// A view may read only its storage, and may not hold more elements than the storage does: the views PyTorch
    /// writes (contiguous, transposed, sliced) never do, while a stride of 0 or overlapping strides would let a few
    /// bytes of the file become gigabytes once made contiguous. Returns the view's element count.
    /// </summary>
    private static long CheckView(string path, string name, TensorReference reference)
    {
        var (storage, offset, shape, stride) = reference;
        SafeTensorsFile.CheckRank(path, name, shape.Length);
        if (offset < 0 || shape.Any(d => d < 0) || stride.Any(s => s < 0))
            throw SafeTensorsFile.Invalid(path, $"tensor '{name}' has a negative offset, size or stride");
        if (shape.Contains(0))
            return 0;
        long last = offset, elements = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] > 1 && stride[i] == 0)
                throw SafeTensorsFile.Invalid(path, $"tensor '{name}' repeats one element {shape[i]} times along dimension {i} "
                    + "(stride 0, an expanded view); save a copy (.contiguous()) instead");
            long step = shape[i] - 1;
            if (stride[i] != 0 && step > (long.MaxValue - last) / stride[i])
                throw SafeTensorsFile.Invalid(path, $"tensor '{name}' has an impossible shape");
            last += step * stride[i];
            elements = elements <= storage.Count / shape[i] ? elements * shape[i] : long.MaxValue;
        }
        if (last >= storage.Count)
            throw SafeTensorsFile.Invalid(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] reads element {last} "
                + $"of a storage of {storage.Count}");
        if (elements > storage.Count)
            throw SafeTensorsFile.Invalid(path, $"tensor '{name}' of shape [{string.Join(", ", shape)}] and strides "
                + $"[{string.Join(", ", stride)}] holds more elements than its storage's {storage.Count}: its strides overlap");
        return elements;
    }
}
