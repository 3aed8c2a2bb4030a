using System.Text;

namespace MlNetCnn.Persistence;

/// <summary>
/// The parts of an ONNX model (protobuf <c>ModelProto</c>) that carry weights: the graph's nodes (operator, inputs,
/// outputs, integer attributes) and its initializers. A small protobuf wire-format reader: every length is checked
/// against the bytes that remain before anything is read, so a forged file is an <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class OnnxModel
{
    /// <summary>A graph node; <see cref="Index"/> is its place in the graph, which names it when it has no name.</summary>
    public sealed record Node(int Index, string Name, string Operator, IReadOnlyList<string> Inputs,
        IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, long[]> Attributes)
    {
        /// <summary>"Conv node 'conv1'", or "Conv node #3" when it has no name: for messages.</summary>
        public string Label
            => (Operator.Length > 0 ? Operator + " " : "") + (Name.Length > 0 ? $"node '{Name}'" : $"node #{Index}");
    }

    /// <summary>An initializer; only float tensors (<see cref="IsFloat"/>) carry <see cref="Values"/>.</summary>
    public sealed record Initializer(string Name, long[] Shape, float[] Values, bool IsFloat);

    // The model-file reader's cap, too: no weight has more dimensions, and a longer list is only a forged file's bulk.
    private const int MaxRank = 64;

    private OnnxModel(List<Node> nodes, Dictionary<string, Initializer> initializers)
    {
        Nodes = nodes;
        Initializers = initializers;
    }

    public IReadOnlyList<Node> Nodes { get; }

    public IReadOnlyDictionary<string, Initializer> Initializers { get; }

    public static OnnxModel Read(string path)
    {
        // Bounded by the bytes really there: a link to /dev/zero reports 0 bytes and would otherwise be read forever.
        byte[] data = RegularFile.ReadAllBytes(path, Array.MaxLength, "ONNX models with external data are not read",
            problem => SafeTensorsFile.Invalid(path, problem));
        var nodes = new List<Node>();
        var initializers = new Dictionary<string, Initializer>(StringComparer.Ordinal);
        bool graphSeen = false;
        var model = new Reader(data, 0, data.Length, path);
        while (model.Next(out int field, out int wire))
        {
            if (field == 7 && wire == 2)
            {
                graphSeen = true;
                var graph = model.Message();
                while (graph.Next(out int g, out int gw))
                {
                    if (g == 1 && gw == 2)
                        nodes.Add(ReadNode(graph.Message(), nodes.Count));
                    else if (g == 5 && gw == 2)
                    {
                        var initializer = ReadTensor(graph.Message(), path);
                        // ONNX names are unique in a graph; a second copy would silently replace the first.
                        if (!initializers.TryAdd(initializer.Name, initializer))
                            throw SafeTensorsFile.Invalid(path, $"its graph holds the initializer '{initializer.Name}' twice");
                    }
                    else
                        graph.Skip(gw);
                }
            }
            else
                model.Skip(wire);
        }
        if (!graphSeen || nodes.Count == 0)
            throw SafeTensorsFile.Invalid(path, "it is not an ONNX model (no graph with nodes)");
        return new OnnxModel(nodes, initializers);
    }

    private static Node ReadNode(Reader node, int index)
    {
        string name = "", op = "";
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        while (node.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 2): inputs.Add(node.Text()); break;
                case (2, 2): outputs.Add(node.Text()); break;
                case (3, 2): name = node.Text(); break;
                case (4, 2): op = node.Text(); break;
                case (5, 2):
                {
                    var attribute = node.Message();
                    string attributeName = "";
                    var values = new List<long>();
                    while (attribute.Next(out int a, out int aw))
                    {
                        if (a == 1 && aw == 2) attributeName = attribute.Text();
                        else if (a == 3 && aw == 0) values.Add(attribute.Varint());
                        else if (a == 8 && aw == 0) values.Add(attribute.Varint());
                        else if (a == 8 && aw == 2) { var packed = attribute.Message(); while (!packed.AtEnd) values.Add(packed.Varint()); }
                        else attribute.Skip(aw);
                    }
                    attributes[attributeName] = values.ToArray();
                    break;
                }
                default: node.Skip(wire); break;
            }
        }
        return new Node(index, name, op, inputs, outputs, attributes);
    }

    private static Initializer ReadTensor(Reader tensor, string path)
    {
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        Reader? raw = null;
        var floats = new List<float>();
        while (tensor.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 0): AddDimension(dims, tensor.Varint(), path, name); break;
                case (1, 2):
                {
                    var packed = tensor.Message();
                    while (!packed.AtEnd)
                        AddDimension(dims, packed.Varint(), path, name);
                    break;
                }
                case (2, 0): dataType = (int)tensor.Varint(); break;
                case (4, 2): { var packed = tensor.Message(); while (!packed.AtEnd) floats.Add(packed.Float()); break; }
                case (4, 5): floats.Add(tensor.Float()); break;
                case (8, 2): name = tensor.Text(); break;
                case (9, 2): raw = tensor.Message(); break;
                case (13, 2): throw SafeTensorsFile.Invalid(path, $"initializer '{name}' keeps its data in an external file, which is not read");
                default: tensor.Skip(wire); break;
            }
        }
        long[] shape = dims.ToArray();
        long count = SafeTensorsFile.TensorBytes(path, name, shape, TorchSharp.torch.ScalarType.Float32) / 4;
        // Only float tensors carry weights; integer initializers (shapes for Reshape) are kept empty.
        if (dataType != 1)
            return new Initializer(name, shape, [], IsFloat: false);
        float[] values;
        if (raw is { } bytes)
        {
            if (bytes.Remaining != count * 4)
                throw SafeTensorsFile.Invalid(path,
                    $"initializer '{name}' of shape [{string.Join(", ", shape)}] needs {count * 4} bytes but holds "
                    + $"{bytes.Remaining}");
            values = new float[count];
            bytes.CopyTo(values);
        }
        else
        {
            if (floats.Count != count)
                throw SafeTensorsFile.Invalid(path,
                    $"initializer '{name}' of shape [{string.Join(", ", shape)}] needs {count} values but holds "
                    + $"{floats.Count}");
            values = floats.ToArray();
        }
        return new Initializer(name, shape, values, IsFloat: true);
    }

    private static void AddDimension(List<long> dims, long dimension, string path, string name)
    {
        if (dims.Count == MaxRank)
        {
            string which = name.Length > 0 ? $"initializer '{name}'" : "an initializer";
            throw SafeTensorsFile.Invalid(path, $"{which} has more than {MaxRank} dimensions");
        }
        dims.Add(dimension);
    }

    /// <summary>A bounded view of protobuf bytes.</summary>
    private sealed class Reader(byte[] data, int start, int end, string path)
    {
        private int _position = start;

        public bool AtEnd => _position >= end;

        public int Remaining => end - _position;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (AtEnd)
                return false;
            long key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public long Varint()
        {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_position >= end)
                    throw SafeTensorsFile.Invalid(path, "its protobuf data is truncated");
                byte b = data[_position++];
                value |= (long)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                    return value;
            }
            throw SafeTensorsFile.Invalid(path, "its protobuf data holds a malformed number");
        }

        public float Float()
        {
            Need(4);
            float value = BitConverter.ToSingle(data, _position);
            _position += 4;
            return value;
        }

        public Reader Message()
        {
            long length = Varint();
            if (length < 0 || length > Remaining)
                throw SafeTensorsFile.Invalid(path, $"its protobuf data claims {length} bytes with {Remaining} left");
            var inner = new Reader(data, _position, _position + (int)length, path);
            _position += (int)length;
            return inner;
        }

        public string Text()
        {
            var inner = Message();
            return Encoding.UTF8.GetString(data, inner._position, inner.Remaining);
        }

        public void CopyTo(float[] values) => Buffer.BlockCopy(data, _position, values, 0, Remaining);

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Need(8); _position += 8; break;
                case 2: Message(); break;
                case 5: Need(4); _position += 4; break;
                default: throw SafeTensorsFile.Invalid(path, $"its protobuf data uses wire type {wire}, which ONNX does not");
            }
        }

        private void Need(int count)
        {
            if (count > Remaining)
                throw SafeTensorsFile.Invalid(path, "its protobuf data is truncated");
        }
    }
}
