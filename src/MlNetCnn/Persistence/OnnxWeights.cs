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
    private enum Kind { Convolution, Linear, BatchNorm }

    private sealed class Unit(Kind kind, string label, long[] shape)
    {
        public Kind Kind { get; } = kind;
        public string Label { get; } = label;
        public long[] Shape { get; } = shape;
        public Dictionary<string, (long[] Shape, float[] Values)> Tensors { get; } = [];
        public bool HasBatchNorm { get; set; }
        public bool HasBias { get; set; }
        public bool Used { get; set; }
        public string Describe() => $"{Kind} '{Label}' [{string.Join(", ", Shape)}]{(HasBatchNorm ? " + BatchNorm" : "")}";
    }

    private static readonly HashSet<string> s_weightFree = new(StringComparer.Ordinal)
    {
        "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Concat", "Flatten", "Reshape", "Dropout",
        "Identity", "Softmax", "LRN", "Pad", "Shape", "Gather", "Unsqueeze", "Squeeze", "Constant", "Transpose", "Split", "Sigmoid",
    };

    /// <summary>
    /// The network's state_dict entries filled from the graph. <paramref name="reverseInputChannels"/> reverses the first
    /// convolution's input channels (a BGR-trained network then takes RGB).
    /// </summary>
    public static Dictionary<string, Tensor> Map(OnnxModel model, string source, nn.Module module, bool reverseInputChannels)
    {
        var graphUnits = GraphUnits(model, source);
        var moduleUnits = ModuleUnits(module);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var unmatchedModule = new List<Unit>();
        Unit? firstConvolution = moduleUnits.FirstOrDefault(u => u.Kind == Kind.Convolution);
        var lastLinear = moduleUnits.LastOrDefault(u => u.Kind == Kind.Linear);
        foreach (var unit in moduleUnits)
        {
            var match = graphUnits.FirstOrDefault(g => !g.Used && g.Kind == unit.Kind && g.Shape.SequenceEqual(unit.Shape) && (g.HasBatchNorm == unit.HasBatchNorm || (unit.HasBatchNorm && g.HasBias)));
            // The classifier head may have another class count: the graph's last linear layer still belongs to it (LoadInto replaces it).
            if (match is null && unit == lastLinear)
                match = graphUnits.LastOrDefault(g => !g.Used && g.Kind == Kind.Linear && g.Shape[1] == unit.Shape[1]);
            if (match is null)
            {
                unmatchedModule.Add(unit);
                continue;
            }
            match.Used = true;
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
        var unusedGraph = graphUnits.Where(g => !g.Used).ToList();
        if (unusedGraph.Count > 0)
        {
            foreach (var t in result.Values)
                t.Dispose();
            throw new ArgumentException(
                $"The ONNX graph in '{source}' is not an architecture that fits {module.GetName()}: {unusedGraph.Count} of its weighted layers have no counterpart " +
                $"(first: {string.Join("; ", unusedGraph.Take(3).Select(u => u.Describe()))}), and the network's {string.Join("; ", unmatchedModule.Take(3).Select(u => u.Describe()))} found none. " +
                "Use the matching CnnArchitecture (same layers, same order), e.g. CnnArchitecture.ResNet(2, 2, 2, 3) for ML.NET's ResNet-18.", nameof(module));
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

    private static List<Unit> GraphUnits(OnnxModel model, string source)
    {
        var units = new List<Unit>();
        var producer = new Dictionary<string, Unit>(StringComparer.Ordinal);
        (long[] Shape, float[] Values) Weight(OnnxModel.Node node, int input)
        {
            if (input >= node.Inputs.Count || !model.Initializers.TryGetValue(node.Inputs[input], out var initializer) || initializer.Values.Length == 0 && initializer.Shape.Length > 0)
                throw new InvalidDataException($"'{source}': {node.Operator} node '{node.Name}' takes its weights from another node, not from an initializer; only graphs with constant weights are read.");
            return (initializer.Shape, initializer.Values);
        }
        foreach (var node in model.Nodes)
        {
            switch (node.Operator)
            {
                case "Conv":
                {
                    var weight = Weight(node, 1);
                    var unit = new Unit(Kind.Convolution, node.Name, weight.Shape);
                    unit.Tensors["weight"] = weight;
                    if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                    {
                        unit.Tensors["bias"] = Weight(node, 2);
                        unit.HasBias = true;
                    }
                    units.Add(unit);
                    producer[node.Outputs[0]] = unit;
                    break;
                }
                case "BatchNormalization":
                {
                    if (!producer.TryGetValue(node.Inputs[0], out var convolution) || convolution.Kind != Kind.Convolution || convolution.HasBatchNorm)
                        throw new ArgumentException($"The ONNX graph in '{source}' is not a supported architecture: BatchNormalization '{node.Name}' does not directly follow a convolution (pre-activation networks such as DenseNet are not read from ONNX).");
                    convolution.Tensors[BatchNormPrefix + "weight"] = Weight(node, 1);
                    convolution.Tensors[BatchNormPrefix + "bias"] = Weight(node, 2);
                    convolution.Tensors[BatchNormPrefix + "running_mean"] = Weight(node, 3);
                    convolution.Tensors[BatchNormPrefix + "running_var"] = Weight(node, 4);
                    convolution.HasBatchNorm = true;
                    break;
                }
                case "Gemm" or "MatMul":
                {
                    var (shape, values) = Weight(node, 1);
                    bool transposed = node.Operator == "Gemm" && node.Attributes.TryGetValue("transB", out var t) && t.Length > 0 && t[0] == 1;
                    if (shape.Length != 2)
                        throw new ArgumentException($"The ONNX graph in '{source}' is not a supported architecture: {node.Operator} '{node.Name}' has a weight of shape [{string.Join(", ", shape)}].");
                    if (!transposed)
                        (shape, values) = Transpose(shape, values);
                    var unit = new Unit(Kind.Linear, node.Name, shape);
                    unit.Tensors["weight"] = (shape, values);
                    if (node.Operator == "Gemm" && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                        unit.Tensors["bias"] = Weight(node, 2);
                    units.Add(unit);
                    producer[node.Outputs[0]] = unit;
                    break;
                }
                case "Add" when node.Inputs.Any(i => model.Initializers.TryGetValue(i, out var b) && b.Values.Length > 1):
                {
                    string other = node.Inputs.First(i => !model.Initializers.ContainsKey(i));
                    if (!producer.TryGetValue(other, out var linear) || linear.Kind != Kind.Linear || linear.Tensors.ContainsKey("bias"))
                        throw new ArgumentException($"The ONNX graph in '{source}' is not a supported architecture: Add '{node.Name}' adds a constant that is no layer's bias.");
                    linear.Tensors["bias"] = Weight(node, node.Inputs.ToList().FindIndex(i => model.Initializers.ContainsKey(i)));
                    break;
                }
                default:
                    if (!s_weightFree.Contains(node.Operator) && node.Inputs.Any(i => model.Initializers.TryGetValue(i, out var w) && w.Values.Length > 1))
                        throw new ArgumentException($"The ONNX graph in '{source}' is not a supported architecture: operator {node.Operator} ('{node.Name}') carries weights; supported are Conv, BatchNormalization, Gemm and MatMul+Add.");
                    break;
            }
        }
        return units;
    }

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
                    units[^1] = new Unit(Kind.Convolution, previous.Label + "|" + name, previous.Shape) { HasBatchNorm = true, HasBias = previous.HasBias };
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
