using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Writes small ONNX models (protobuf <c>ModelProto</c>) node by node, so tests can forge every structural fault, and
/// the network whose weights they hold: Conv(1→4, 3×3) + BatchNormalization, Relu, GlobalAveragePool, Flatten, Gemm(4→3).
/// </summary>
internal sealed class OnnxWeightFiles
{
    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _initializers = [];

    /// <summary>Adds a node; <paramref name="transB"/> adds Gemm's integer attribute.</summary>
    public OnnxWeightFiles Node(string op, string name, string[] inputs, string[] outputs, long? transB = null)
    {
        var node = new Protobuf();
        foreach (string input in inputs)
            node.Text(1, input);
        foreach (string output in outputs)
            node.Text(2, output);
        node.Text(3, name).Text(4, op);
        if (transB is { } value)
            node.Message(5, new Protobuf().Text(1, "transB").Varint(3, value).Varint(20, 2));
        _nodes.Add(node.ToArray());
        return this;
    }

    /// <summary>Adds an initializer stored as raw little-endian bytes (data type 1: float, 7: int64).</summary>
    public OnnxWeightFiles Initializer(string name, long[] shape, float[] values, int dataType = 1)
    {
        var tensor = new Protobuf();
        foreach (long d in shape)
            tensor.Varint(1, d);
        tensor.Varint(2, dataType).Text(8, name);
        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        _initializers.Add(tensor.Bytes(9, raw).ToArray());
        return this;
    }

    public byte[] ToArray()
    {
        var graph = new Protobuf();
        foreach (byte[] node in _nodes)
            graph.Bytes(1, node);
        graph.Text(2, "forged");
        foreach (byte[] initializer in _initializers)
            graph.Bytes(5, initializer);
        return new Protobuf().Varint(1, 7).Message(8, new Protobuf().Text(1, "").Varint(2, 13)).Message(7, graph).ToArray();
    }

    public string Write(string path)
    {
        File.WriteAllBytes(path, ToArray());
        return path;
    }

    /// <summary>Values 0.01·(i+1)·sign, distinct per tensor through <paramref name="offset"/>, so a misplaced tensor shows.</summary>
    public static float[] Values(int count, float offset = 0)
        => [.. Enumerable.Range(0, count).Select(i => offset + 0.01f * (i + 1) * (i % 2 == 0 ? 1 : -1))];

    /// <summary>
    /// The initializers of <see cref="Network"/>, named as a torch.onnx export would (state_dict keys);
    /// <paramref name="edit"/> may replace a tensor's values (null keeps them; a vector's shape follows its length).
    /// </summary>
    public static OnnxWeightFiles WithWeights(Func<string, float[], float[]?>? edit = null)
    {
        var files = new OnnxWeightFiles();
        void Add(string name, long[]? shape, float[] values)
        {
            float[] edited = edit?.Invoke(name, values) ?? values;
            files.Initializer(name, shape ?? [edited.Length], edited);
        }
        Add("conv.weight", [4, 1, 3, 3], Values(36));
        Add("conv.bias", null, Values(4, 1));
        Add("bn.weight", null, Values(4, 2));
        Add("bn.bias", null, Values(4, 3));
        Add("bn.running_mean", null, Values(4, 4));
        Add("bn.running_var", null, [0.5f, 1, 1.5f, 2]);
        Add("fc.weight", [3, 4], Values(12, 5));
        Add("fc.bias", null, Values(3, 6));
        return files;
    }

    /// <summary>The valid graph over <see cref="WithWeights"/>.</summary>
    public static OnnxWeightFiles Valid(Func<string, float[], float[]?>? edit = null)
        => WithWeights(edit)
            .Node("Conv", "conv", ["input", "conv.weight", "conv.bias"], ["c"])
            .Node("BatchNormalization", "bn", ["c", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], ["b"])
            .Node("Relu", "relu", ["b"], ["r"])
            .Node("GlobalAveragePool", "pool", ["r"], ["p"])
            .Node("Flatten", "flatten", ["p"], ["f"])
            .Node("Gemm", "fc", ["f", "fc.weight", "fc.bias"], ["output"], transB: 1);

    /// <summary>The network the valid graph's weights belong to.</summary>
    public static nn.Module<Tensor, Tensor> Network(int classes = 3) => nn.Sequential(
        ("conv", nn.Conv2d(1, 4, 3)), ("bn", nn.BatchNorm2d(4)), ("relu", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(4, classes)));

    /// <summary>Protobuf wire format: varints and length-delimited fields, all a ModelProto needs here.</summary>
    private sealed class Protobuf
    {
        private readonly MemoryStream _bytes = new();

        public Protobuf Varint(int field, long value)
        {
            WriteVarint((ulong)(field << 3));
            WriteVarint((ulong)value);
            return this;
        }

        public Protobuf Bytes(int field, byte[] value)
        {
            WriteVarint((ulong)(field << 3 | 2));
            WriteVarint((ulong)value.Length);
            _bytes.Write(value);
            return this;
        }

        public Protobuf Text(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Protobuf Message(int field, Protobuf message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _bytes.ToArray();

        private void WriteVarint(ulong value)
        {
            for (; value >= 0x80; value >>= 7)
                _bytes.WriteByte((byte)(value | 0x80));
            _bytes.WriteByte((byte)value);
        }
    }
}
