using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence;

/// <summary>
/// Checks TorchSharp's serialized states (a module's weights, an optimizer's state, libtorch's CPU random generator
/// state) against the network and optimizer they are about to be loaded into, before TorchSharp or libtorch sees a
/// byte. TorchSharp trusts the ranks and shapes it reads (a forged rank allocates before anything is compared) and
/// libtorch aborts the process on a random state it does not accept, so a forged or damaged state must stop here.
/// The formats are those of the pinned TorchSharp (Module.save, Optimizer.save_state_dict, Tensor.Save).
/// </summary>
internal static class TorchStateFormat
{
    /// <summary>libtorch supports at most 64 dimensions.</summary>
    internal const int MaximumRank = 64;

    // mt19937 as libtorch's CPUGeneratorImplState lays it out: seed (u64), left (i32), seeded (i32), next (u64), state[624] (u64), ...
    private const int MersenneStateSize = 624;
    private const int LeftOffset = 8, SeededOffset = 12, NextOffset = 16;

    internal readonly record struct TensorHeader(string Name, ScalarType Type, long[] Shape)
    {
        public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

        public string ShapeText => Shape.Length == 0 ? "a scalar" : string.Join("×", Shape);
    }

    /// <summary>Reads the entries of a module state (names, element types and shapes) and checks that the data of each fits in the bytes.</summary>
    public static List<TensorHeader> ReadModuleHeaders(byte[] state)
    {
        using var reader = new BinaryReader(new MemoryStream(state, writable: false));
        long count = Decode(reader, "tensor count");
        // Each entry takes at least a name, an element type and a rank: 3 bytes.
        if (count > reader.Remaining() / 3)
            throw new InvalidDataException($"the weights claim {count} tensors in {state.Length} bytes.");
        var headers = new List<TensorHeader>((int)count);
        for (long i = 0; i < count; i++)
        {
            string name = reader.ReadText("tensor name", 4096);
            headers.Add(ReadTensor(reader, name));
        }
        if (reader.Remaining() != 0)
            throw new InvalidDataException($"the weights hold {reader.Remaining()} bytes after their last tensor.");
        return headers;
    }

    /// <summary>Checks that <paramref name="state"/> holds exactly the tensors of <paramref name="module"/>, with their
    /// names, types and shapes.</summary>
    public static void CheckModuleState(byte[] state, nn.Module module, string networkName)
    {
        var headers = ReadModuleHeaders(state);
        var expected = module.state_dict();
        if (headers.Count != expected.Count)
            throw new InvalidDataException($"the weights hold {headers.Count} tensors; {networkName} has {expected.Count}.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var header in headers)
        {
            if (!expected.TryGetValue(header.Name, out var tensor) || !seen.Add(header.Name))
                throw new InvalidDataException($"the weights hold a tensor '{header.Name}' that {networkName} does not have (or holds it twice).");
            if (header.Type != tensor.dtype || !header.Shape.SequenceEqual(tensor.shape))
                throw new InvalidDataException($"the tensor '{header.Name}' is {header.Type} {header.ShapeText} in the "
                    + $"weights; {networkName} expects {tensor.dtype} {string.Join("×", tensor.shape)}.");
        }
    }

    /// <summary>
    /// Checks an optimizer state written by <c>save_state_dict</c> of the same optimizer type over the same parameters:
    /// the type name, the group and state counts, the hyperparameter record of each group and every state tensor's type and shape.
    /// </summary>
    public static void CheckOptimizerState(byte[] state, OptimizerHelper optimizer)
    {
        using var reader = new BinaryReader(new MemoryStream(state, writable: false));
        string type = optimizer.GetType().Name;
        string recorded = reader.ReadText("optimizer name", 256);
        if (recorded != type)
            throw new InvalidDataException($"the optimizer state is of {recorded}; this run uses {type}.");
        int groups = optimizer.ParamGroups.Count();
        // The states follow the parameters group by group, as parameters() lists them.
        var parameters = optimizer.parameters().ToList();
        long groupCount = Decode(reader, "parameter group count"), stateCount = Decode(reader, "optimizer state count");
        if (groupCount != groups || stateCount != parameters.Count)
            throw new InvalidDataException($"the optimizer state has {groupCount} parameter groups and {stateCount} "
                + $"states; this run has {groups} and {parameters.Count}.");
        bool isSgd = type == nameof(TorchSharp.Modules.SGD);
        if (!isSgd && type is not (nameof(TorchSharp.Modules.Adam) or nameof(TorchSharp.Modules.AdamW)))
            throw new NotSupportedException($"Checking the state of {type} is not implemented.");
        // Each group: initial and current learning rate, then Adam's beta1, beta2, eps, weight decay or SGD's momentum,
        // dampening, weight decay; then two flags (amsgrad/nesterov, maximize).
        int groupDoubles = isSgd ? 5 : 6;
        for (int g = 0; g < groupCount; g++)
        {
            for (int d = 0; d < groupDoubles; d++)
            {
                if (!double.IsFinite(reader.ReadDouble()))
                    throw new InvalidDataException($"a hyperparameter of parameter group {g + 1} in the optimizer state is not a finite number.");
            }
            ReadFlag(reader, "optimizer flag");
            ReadFlag(reader, "optimizer flag");
        }
        for (int i = 0; i < parameters.Count; i++)
        {
            var parameter = parameters[i];
            string what = $"optimizer state {i + 1} (a parameter of {string.Join("×", parameter.shape)})";
            if (!isSgd)
            {
                if (reader.ReadInt64() < 0)
                    throw new InvalidDataException($"the step count of {what} is negative.");
                ExpectTensor(reader, what, parameter);
                ExpectTensor(reader, what, parameter);
            }
            if (ReadFlag(reader, what))
                ExpectTensor(reader, what, parameter);
        }
        if (reader.Remaining() != 0)
            throw new InvalidDataException($"the optimizer state holds {reader.Remaining()} bytes after its last entry.");
    }

    /// <summary>
    /// Checks a CPU random generator state against the size libtorch expects and the fields it would reject (it
    /// aborts the process rather than throwing): mt19937's position must lie within its 624 words and it must be seeded.
    /// </summary>
    public static void CheckRandomState(byte[] state)
    {
        long expected;
        using (var current = get_rng_state())
            expected = current.NumberOfElements;
        if (state.Length != expected)
            throw new InvalidDataException($"the random generator state has {state.Length} bytes; libtorch's has {expected}.");
        int left = BitConverter.ToInt32(state, LeftOffset), seeded = BitConverter.ToInt32(state, SeededOffset);
        ulong next = BitConverter.ToUInt64(state, NextOffset);
        if (left <= 0 || left > MersenneStateSize || seeded == 0 || next > MersenneStateSize)
            throw new InvalidDataException($"the random generator state is invalid (left {left}, seeded {seeded}, next {next}).");
    }

    private static void ExpectTensor(BinaryReader reader, string what, Tensor expected)
    {
        var header = ReadTensor(reader, what);
        if (header.Type != expected.dtype || !header.Shape.SequenceEqual(expected.shape))
            throw new InvalidDataException($"{what} holds a {header.Type} tensor of {header.ShapeText}; expected "
                + $"{expected.dtype} {string.Join("×", expected.shape)}.");
    }

    private static bool ReadFlag(BinaryReader reader, string what) => reader.ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new InvalidDataException($"a flag of {what} is {b}, not 0 or 1."),
    };

    /// <summary>Reads a tensor's header (element type, rank, dimensions) and skips its data, checking every size first.</summary>
    private static TensorHeader ReadTensor(BinaryReader reader, string name)
    {
        long typeCode = Decode(reader, $"element type of '{name}'");
        var type = (ScalarType)typeCode;
        int elementSize = typeCode <= int.MaxValue ? ElementSize(type) : 0;
        if (elementSize == 0)
            throw new InvalidDataException($"the tensor '{name}' has the unknown element type {typeCode}.");
        long rank = Decode(reader, $"rank of '{name}'");
        if (rank > MaximumRank || rank > reader.Remaining())
            throw new InvalidDataException($"the tensor '{name}' claims {rank} dimensions (at most {MaximumRank}).");
        var shape = new long[rank];
        long bytes = elementSize;
        for (int d = 0; d < rank; d++)
        {
            shape[d] = Decode(reader, $"dimension {d + 1} of '{name}'");
            if (shape[d] > 0 && bytes > reader.Remaining() / shape[d])
                throw new InvalidDataException($"the tensor '{name}' claims dimension {d + 1} = {shape[d]}, more data "
                    + $"than the {reader.Remaining()} bytes left.");
            bytes *= shape[d];
        }
        if (bytes > reader.Remaining())
            throw new InvalidDataException($"the tensor '{name}' claims {bytes} bytes of data; {reader.Remaining()} are left.");
        reader.BaseStream.Seek(bytes, SeekOrigin.Current);
        return new TensorHeader(name, type, shape);
    }

    private static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => 0,
    };

    /// <summary>TorchSharp's unsigned LEB128 integer, at most 63 bits.</summary>
    private static long Decode(BinaryReader reader, string what)
    {
        long result = 0;
        for (int shift = 0; ; shift += 7)
        {
            if (shift > 56)
                throw new InvalidDataException($"the {what} is not a valid size.");
            long b = reader.ReadByte();
            result |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result < 0 ? throw new InvalidDataException($"the {what} is not a valid size.") : result;
        }
    }
}
