using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence;

/// <summary>
/// Maps an ONNX graph's weights onto a network by structure: the graph's weighted layers (Conv with the
/// BatchNormalization that consumes it, Gemm or MatMul+Add) are paired, in graph order, with the network's layers of
/// the same kind and shape (Conv2d with the BatchNorm2d registered right after it, Linear), in registration order.
/// Layers of equal shape keep their relative order, which both orders share for the torchvision-layout networks.
/// A graph layer without a counterpart, or a weighted operator of another kind, makes the graph unsupported.
/// </summary>
internal static class OnnxWeights
{
    internal enum Kind { Convolution, Linear, BatchNorm }

    internal sealed class Unit(Kind kind, string label, long[] shape)
    {
        public Kind Kind { get; } = kind;
        public string Label { get; } = label;
        public long[] Shape { get; } = shape;
        public Dictionary<string, (long[] Shape, float[] Values)> Tensors { get; } = [];
        public bool HasBatchNorm { get; set; }
        public bool HasBias { get; set; }
        public string Describe() => $"{Kind} '{Label}' [{string.Join(", ", Shape)}]{(HasBatchNorm ? " + BatchNorm" : "")}";
    }

    /// <summary>
    /// A graph's weighted layers, read once when the file is loaded; <see cref="Unsupported"/> says why a valid graph
    /// is not an architecture this mapping reads (reported when it is mapped, as any network that does not fit).
    /// </summary>
    internal sealed record Graph(IReadOnlyList<Unit> Units, string? Unsupported);

    private static readonly HashSet<string> s_weightFree = new(StringComparer.Ordinal)
    {
        "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Concat", "Flatten", "Reshape", "Dropout",
        "Identity", "Softmax", "LRN", "Pad", "Shape", "Gather", "Unsqueeze", "Squeeze", "Constant", "Transpose", "Split", "Sigmoid",
    };

    // The inputs the ONNX operators read here take (opset 1 to 21 agree), and their names for messages.
    private static readonly Dictionary<string, (int Least, int Most, string Names)> s_inputs =
        new(StringComparer.Ordinal)
    {
        ["Conv"] = (2, 3, "X, W and an optional B"),
        ["BatchNormalization"] = (5, 5, "X, scale, B, mean and var"),
        ["Gemm"] = (2, 3, "A, B and an optional C"),
        ["MatMul"] = (2, 2, "A and B"),
        ["Add"] = (2, 2, "A and B"),
    };

    private static readonly (string Key, string Role)[] s_batchNormInputs =
        [("weight", "scale"), ("bias", "B"), ("running_mean", "mean"), ("running_var", "var")];

    /// <summary>
    /// The network's state_dict entries filled from the graph. <paramref name="reverseInputChannels"/> reverses the first
    /// convolution's input channels (a BGR-trained network then takes RGB).
    /// </summary>
    public static Dictionary<string, Tensor> Map(Graph graph, string source, nn.Module module,
        bool reverseInputChannels)
    {
        if (graph.Unsupported is { } reason)
            throw new ArgumentException(
                $"The ONNX graph in '{source}' is not a supported architecture: {reason}.", nameof(module));
        var graphUnits = graph.Units;
        var moduleUnits = ModuleUnits(module);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var used = new HashSet<Unit>();
        var unmatchedModule = new List<Unit>();
        Unit? firstConvolution = moduleUnits.FirstOrDefault(u => u.Kind == Kind.Convolution);
        var lastLinear = moduleUnits.LastOrDefault(u => u.Kind == Kind.Linear);
        foreach (var unit in moduleUnits)
        {
            var match = graphUnits.FirstOrDefault(g => !used.Contains(g) && g.Kind == unit.Kind
                && g.Shape.SequenceEqual(unit.Shape) && (g.HasBatchNorm == unit.HasBatchNorm || (unit.HasBatchNorm && g.HasBias)));
            // The classifier head may have another class count: the graph's last linear layer still belongs to it (LoadInto replaces it).
            if (match is null && unit == lastLinear)
                match = graphUnits.LastOrDefault(g => !used.Contains(g) && g.Kind == Kind.Linear
                    && g.Shape[1] == unit.Shape[1]);
            if (match is null)
            {
                unmatchedModule.Add(unit);
                continue;
            }
            used.Add(match);
            string[] labels = unit.Label.Split('|');
            string layer = labels[0];
            string? norm = labels.Length > 1 ? labels[1] : null;
            foreach (var (suffix, (shape, values)) in match.Tensors)
            {
                var tensor = torch.tensor(values).reshape(shape);
                if (unit == firstConvolution && reverseInputChannels && suffix == "weight")
                    tensor = tensor.flip(1);
                if (suffix.StartsWith(BatchNormPrefix, StringComparison.Ordinal))
                    result[$"{norm}.{suffix[BatchNormPrefix.Length..]}"] = tensor;
                // A graph whose batch norm was folded into the convolution's bias: the network's batch norm carries that bias.
                else if (suffix == "bias" && norm != null && !match.HasBatchNorm && !unit.HasBias)
                    AddFoldedBatchNorm(result, norm, tensor);
                else
                    result[$"{layer}.{suffix}"] = tensor;
            }
        }
        var unusedGraph = graphUnits.Where(g => !used.Contains(g)).ToList();
        if (unusedGraph.Count > 0)
        {
            foreach (var t in result.Values)
                t.Dispose();
            throw new ArgumentException(
                $"The ONNX graph in '{source}' is not an architecture that fits {module.GetName()}: " +
                $"{unusedGraph.Count} of its weighted layers have no counterpart " +
                $"(first: {string.Join("; ", unusedGraph.Take(3).Select(u => u.Describe()))}), and the network's " +
                $"{string.Join("; ", unmatchedModule.Take(3).Select(u => u.Describe()))} found none. " +
                "Use the matching CnnArchitecture (same layers, same order), e.g. CnnArchitecture.ResNet(2, 2, 2, 3) " +
                "for ML.NET's ResNet-18.", nameof(module));
        }
        return result;
    }

    private const string BatchNormPrefix = "|bn.";

    private static void AddFoldedBatchNorm(Dictionary<string, Tensor> result, string norm, Tensor bias)
    {
        result[$"{norm}.weight"] = ones_like(bias);
        result[$"{norm}.bias"] = bias;
        result[$"{norm}.running_mean"] = zeros_like(bias);
        // TorchSharp's BatchNorm2d adds eps = 1e-5 to the variance, so this makes it the identity plus the bias.
        result[$"{norm}.running_var"] = full_like(bias, 1 - 1e-5);
    }

    /// <summary>
    /// The graph's weighted layers. A structural fault (a node without operator or output, an operator read here with
    /// the wrong number of inputs, a layer's vectors of another length than its channels) is an
    /// <see cref="InvalidDataException"/> naming the file and the node, whatever the network it is later mapped onto.
    /// </summary>
    public static Graph Read(OnnxModel model, string source)
    {
        var units = new List<Unit>();
        var producer = new Dictionary<string, Unit>(StringComparer.Ordinal);
        string? unsupported = null;
        foreach (var node in model.Nodes)
        {
            CheckStructure(node, source);
            // Past the first unsupported layer the producers are incomplete: only the structure is still checked.
            unsupported ??= AddLayer(model, source, node, units, producer);
        }
        return new Graph(units, unsupported);
    }

    private static void CheckStructure(OnnxModel.Node node, string source)
    {
        if (node.Operator.Length == 0)
            throw Invalid(source, node, "has no operator");
        if (node.Outputs.Count == 0)
            throw Invalid(source, node, "has no output");
        if (!s_inputs.TryGetValue(node.Operator, out var inputs))
            return;
        if (node.Inputs.Count < inputs.Least || node.Inputs.Count > inputs.Most)
        {
            string takes = inputs.Least == inputs.Most ? $"{inputs.Least}" : $"{inputs.Least} or {inputs.Most}";
            string has = node.Inputs.Count == 1 ? "1 input" : $"{node.Inputs.Count} inputs";
            throw Invalid(source, node, $"has {has}; {node.Operator} takes {takes} inputs ({inputs.Names})");
        }
        if (node.Outputs[0].Length == 0)
            throw Invalid(source, node, "has no output");
    }

    /// <summary>Adds the node's layer (or its part of one); returns why the graph is unsupported, or null.</summary>
    private static string? AddLayer(OnnxModel model, string source, OnnxModel.Node node, List<Unit> units,
        Dictionary<string, Unit> producer)
    {
        switch (node.Operator)
        {
            case "Conv":
            {
                var weight = Weight(model, source, node, 1);
                if (weight.Shape.Length != 4)
                    return $"Conv '{node.Name}' has a weight of shape [{Join(weight.Shape)}]; only 2-D convolutions are read";
                var unit = new Unit(Kind.Convolution, node.Name, weight.Shape);
                unit.Tensors["weight"] = weight;
                if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                {
                    unit.Tensors["bias"] = Vector(model, source, node, 2, "bias", weight.Shape[0]);
                    unit.HasBias = true;
                }
                units.Add(unit);
                producer[node.Outputs[0]] = unit;
                return null;
            }
            case "BatchNormalization":
            {
                if (!producer.TryGetValue(node.Inputs[0], out var convolution) || convolution.Kind != Kind.Convolution
                    || convolution.HasBatchNorm)
                    return $"BatchNormalization '{node.Name}' does not directly follow a convolution "
                        + "(pre-activation networks such as DenseNet are not read from ONNX)";
                for (int i = 0; i < s_batchNormInputs.Length; i++)
                {
                    var (key, role) = s_batchNormInputs[i];
                    convolution.Tensors[BatchNormPrefix + key] =
                        Vector(model, source, node, i + 1, role, convolution.Shape[0]);
                }
                convolution.HasBatchNorm = true;
                return null;
            }
            case "Gemm" or "MatMul":
            {
                var (shape, values) = Weight(model, source, node, 1);
                bool transposed = node.Operator == "Gemm" && node.Attributes.TryGetValue("transB", out var t)
                    && t.Length > 0 && t[0] == 1;
                if (shape.Length != 2)
                    return $"{node.Operator} '{node.Name}' has a weight of shape [{Join(shape)}]";
                if (!transposed)
                    (shape, values) = Transpose(shape, values);
                var unit = new Unit(Kind.Linear, node.Name, shape);
                unit.Tensors["weight"] = (shape, values);
                if (node.Operator == "Gemm" && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                {
                    if (Bias(model, source, node, 2, shape[0]) is not { } bias)
                        return $"Gemm '{node.Name}' adds a C that is not one value per output ({shape[0]})";
                    unit.Tensors["bias"] = bias;
                }
                units.Add(unit);
                producer[node.Outputs[0]] = unit;
                return null;
            }
            case "Add" when node.Inputs.Any(i => model.Initializers.TryGetValue(i, out var b) && b.Values.Length > 1):
            {
                int constant = node.Inputs.ToList().FindIndex(model.Initializers.ContainsKey);
                string other = node.Inputs[1 - constant];
                if (model.Initializers.ContainsKey(other))
                    throw Invalid(source, node, "adds two constants; an Add is read as a layer's output plus its bias");
                if (!producer.TryGetValue(other, out var linear) || linear.Kind != Kind.Linear
                    || linear.Tensors.ContainsKey("bias"))
                    return $"Add '{node.Name}' adds a constant that is no layer's bias";
                if (Bias(model, source, node, constant, linear.Shape[0]) is not { } addedBias)
                    return $"Add '{node.Name}' adds a constant that is not one value per output ({linear.Shape[0]})";
                linear.Tensors["bias"] = addedBias;
                return null;
            }
            default:
                if (!s_weightFree.Contains(node.Operator)
                    && node.Inputs.Any(i => model.Initializers.TryGetValue(i, out var w) && w.Values.Length > 1))
                    return $"operator {node.Operator} ('{node.Name}') carries weights; "
                        + "supported are Conv, BatchNormalization, Gemm and MatMul+Add";
                return null;
        }
    }

    private static (long[] Shape, float[] Values) Weight(OnnxModel model, string source, OnnxModel.Node node,
        int input)
    {
        if (input >= node.Inputs.Count || !model.Initializers.TryGetValue(node.Inputs[input], out var initializer))
            throw Invalid(source, node,
                "takes its weights from another node, not from an initializer; only graphs with constant weights are read");
        if (!initializer.IsFloat)
            throw Invalid(source, node, $"takes weights '{initializer.Name}' that are not float32; only float weights are read");
        return (initializer.Shape, initializer.Values);
    }

    /// <summary>A per-channel input (a bias, a batch norm's scale…): <paramref name="channels"/> values, as ONNX requires.</summary>
    private static (long[] Shape, float[] Values) Vector(OnnxModel model, string source, OnnxModel.Node node, int input,
        string role, long channels)
    {
        var (shape, values) = Weight(model, source, node, input);
        if (shape is not [var length] || length != channels)
            throw Invalid(source, node, $"has a {role} of shape [{Join(shape)}]; its {channels} channels need [{channels}]");
        return (shape, values);
    }

    /// <summary>A linear layer's bias: one value per output, as [n] or [1, n] (ONNX broadcasts both); else null.</summary>
    private static (long[] Shape, float[] Values)? Bias(OnnxModel model, string source, OnnxModel.Node node, int input,
        long outputs)
    {
        var (shape, values) = Weight(model, source, node, input);
        bool perOutput = shape is [var n] && n == outputs || shape is [1, var m] && m == outputs;
        return perOutput ? ([outputs], values) : null;
    }

    private static InvalidDataException Invalid(string source, OnnxModel.Node node, string problem)
        => SafeTensorsFile.Invalid(source, $"its {node.Label} {problem}");

    private static string Join(long[] shape) => string.Join(", ", shape);

    private static (long[] Shape, float[] Values) Transpose(long[] shape, float[] values)
    {
        long rows = shape[0], columns = shape[1];
        var result = new float[values.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < columns; c++)
                result[c * rows + r] = values[r * columns + c];
        return ([columns, rows], result);
    }

    /// <summary>The network's weighted layers in registration order; a BatchNorm2d right after a Conv2d of its width joins it.</summary>
    private static List<Unit> ModuleUnits(nn.Module module)
    {
        var units = new List<Unit>();
        Unit? previous = null;
        foreach (var (name, layer) in module.named_modules())
        {
            switch (layer)
            {
                case Conv2d conv:
                    previous = new Unit(Kind.Convolution, name, conv.weight!.shape) { HasBias = conv.bias is not null };
                    units.Add(previous);
                    break;
                case BatchNorm2d norm when previous is { Kind: Kind.Convolution, HasBatchNorm: false } && previous.Shape[0] == norm.weight!.shape[0]:
                    // The unit's label becomes "<convolution>|<batch norm>": both prefixes, for the keys.
                    units[^1] = new Unit(Kind.Convolution, previous.Label + "|" + name,
                        previous.Shape) { HasBatchNorm = true, HasBias = previous.HasBias };
                    previous = null;
                    break;
                case BatchNorm2d norm:
                    units.Add(new Unit(Kind.BatchNorm, name, norm.weight!.shape));
                    previous = null;
                    break;
                case Linear linear:
                    units.Add(new Unit(Kind.Linear, name, linear.weight!.shape));
                    previous = null;
                    break;
            }
        }
        return units;
    }
}
