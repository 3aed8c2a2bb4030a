using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Persistence.Onnx;

/// <summary>A tensor of the ONNX graph: its variable and its shape, batch first (-1: any batch size).</summary>
internal readonly record struct OnnxValue(string Name, long[] Shape)
{
    public int Rank => Shape.Length;

    /// <summary>The size of dimension <paramref name="axis"/> (e.g. channels at 1).</summary>
    public long this[int axis] => Shape[axis];
}

/// <summary>
/// A network block whose forward pass is more than a chain of its layers (residual additions, concatenations,
/// functional activations): it writes its own ONNX nodes, calling <see cref="OnnxNetworkWriter.Call"/> for its layers.
/// </summary>
internal interface IOnnxModule
{
    OnnxValue WriteOnnx(OnnxNetworkWriter writer, OnnxValue input);
}

/// <summary>
/// Writes a TorchSharp network (in evaluation mode) as ONNX nodes by walking its module tree: the standard layers
/// (Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, Linear, Dropout, Flatten,
/// Identity, Sequential) map to ONNX operators, the zoo's blocks describe themselves (<see cref="IOnnxModule"/>), and any
/// other module whose forward pass equals the chain of its layers (checked on a random input) exports as that chain.
/// Anything else throws <see cref="NotSupportedException"/> naming the layer. Weights are named after their state_dict keys.
/// </summary>
internal sealed class OnnxNetworkWriter
{
    private readonly IOnnxGraph _graph;
    private readonly nn.Module? _watched;
    private readonly List<string> _path = [];

    /// <param name="graph">The graph to write into.</param>
    /// <param name="watched">A layer whose input is wanted (the embedding: the head's input), or null.</param>
    public OnnxNetworkWriter(IOnnxGraph graph, nn.Module? watched = null)
    {
        _graph = graph;
        _watched = watched;
    }

    /// <summary>The input of the watched layer, once the network is written.</summary>
    public OnnxValue? WatchedInput { get; private set; }

    /// <summary>Writes the whole network applied to <paramref name="input"/> (N×C×H×W) and returns its output.</summary>
    public OnnxValue Network(nn.Module network, OnnxValue input)
    {
        using var noGrad = no_grad();
        return Write(network, input);
    }

    /// <summary>Writes the layer <paramref name="module"/> registered as <paramref name="name"/> in the current block.</summary>
    public OnnxValue Call(string name, nn.Module module, OnnxValue input)
    {
        _path.Add(name);
        try
        {
            return Write(module, input);
        }
        finally
        {
            _path.RemoveAt(_path.Count - 1);
        }
    }

    private string Path => _path.Count == 0 ? "network" : string.Join('.', _path);

    private OnnxValue Write(nn.Module module, OnnxValue x)
    {
        if (ReferenceEquals(module, _watched))
            WatchedInput = x;
        return module switch
        {
            IOnnxModule block => block.WriteOnnx(this, x),
            Sequential sequential => Chain(sequential, x),
            Conv2d conv => Conv(conv, x),
            BatchNorm2d norm => BatchNorm(norm, x),
            ReLU => Relu(x),
            GELU => Gelu(x),
            MaxPool2d pool => MaxPool(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode),
            AvgPool2d pool => AvgPool(pool, x),
            AdaptiveAvgPool2d pool => AdaptiveAvgPool(x, pool.output_size),
            AdaptiveMaxPool2d pool => AdaptiveMaxPool(x, pool.output_size),
            Linear linear => Linear(linear, x),
            Dropout or Identity => x,
            Flatten flatten => Flatten(x, flatten.start_dim, flatten.end_dim),
            _ => VerifiedChain(module, x),
        };
    }

    private OnnxValue Chain(nn.Module module, OnnxValue x)
    {
        foreach (var (name, child) in module.named_children())
            x = Call(name, child, FlattenBeforeLinear(child, x));
        return x;
    }

    // PyTorch code flattens between the convolutional part and the classifier in forward (x.flatten(1), x.view(n, -1));
    // a chain of layers therefore flattens where a Linear meets a feature map.
    private OnnxValue FlattenBeforeLinear(nn.Module child, OnnxValue x)
        => child is Linear && x.Rank > 2 ? Flatten(x) : x;

    /// <summary>A custom module without an ONNX description: exported as the chain of its layers if that is what its forward computes.</summary>
    private OnnxValue VerifiedChain(nn.Module module, OnnxValue x)
    {
        string type = module.GetType().Name;
        var children = module.named_children().ToList();
        if (children.Count == 0 || module is not nn.Module<Tensor, Tensor> forward)
            throw new NotSupportedException($"ONNX export does not support the layer '{Path}' ({type}). Supported: "
                + "Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, Linear, "
                + "Dropout, Flatten, Identity, Sequential, the built-in architectures' blocks, and modules whose "
                + "forward applies their layers one after the other.");
        if (!ForwardIsChain(forward, children, x))
            throw new NotSupportedException($"ONNX export cannot describe the layer '{Path}' ({type}): its forward "
                + "pass computes more than its layers "
                + $"({string.Join(", ", children.Select(c => $"{c.name}: {c.module.GetType().Name}"))}) applied one "
                + "after the other, e.g. functional calls or additions. Build it from nn.Sequential and the supported "
                + "layers (ReLU as a module, not functional.relu).");
        return Chain(module, x);
    }

    private static bool ForwardIsChain(nn.Module<Tensor, Tensor> module, List<(string name, nn.Module module)> children, OnnxValue x)
    {
        using var scope = NewDisposeScope();
        var parameter = module.parameters().FirstOrDefault();
        var probe = randn([2, .. x.Shape.Skip(1)], device: parameter?.device);
        Tensor expected, actual = probe;
        try
        {
            expected = module.call(probe);
            foreach (var (_, child) in children)
            {
                if (child is not nn.Module<Tensor, Tensor> layer)
                    return false;
                if (child is Linear && actual.dim() > 2)
                    actual = actual.flatten(1);
                actual = layer.call(actual);
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ExternalException)
        {
            return false;
        }
        if (!expected.shape.SequenceEqual(actual.shape))
            return false;
        double scale = Math.Max(1, expected.abs().max().item<float>());
        return (expected - actual).abs().max().item<float>() <= 1e-4 * scale;
    }

    // ---- Layers ----

    private OnnxValue Conv(Conv2d conv, OnnxValue x)
    {
        if (conv.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"ONNX export supports zero-padded convolutions only; '{Path}' pads with {conv.padding_mode}.");
        if (conv.transposed)
            throw new NotSupportedException($"ONNX export does not support the transposed convolution '{Path}'.");
        long[] kernel = conv.kernel_size, stride = conv.stride, dilation = conv.dilation;
        long[] pads = new long[4];
        for (int axis = 0; axis < 2; axis++)
        {
            if (conv.padding_type == Padding.Same)
            {
                long total = dilation[axis] * (kernel[axis] - 1);
                pads[axis] = total / 2;
                pads[axis + 2] = total - total / 2;
            }
            else if (conv.padding is { } padding)
            {
                pads[axis] = pads[axis + 2] = padding[axis];
            }
        }
        var inputs = new List<string> { x.Name, Weight("weight", conv.weight) };
        if (conv.bias is { } bias)
            inputs.Add(Weight("bias", bias));
        var y = Output("conv",
            [x[0], conv.out_channels, Spatial(x[2], kernel[0], stride[0], pads[0], pads[2], dilation[0], false),
                Spatial(x[3], kernel[1], stride[1], pads[1], pads[3], dilation[1], false)]);
        _graph.Node("Conv", inputs, [y.Name])
            .Attribute("kernel_shape", kernel).Attribute("strides", stride).Attribute("pads", pads)
            .Attribute("dilations", dilation).Attribute("group", conv.groups);
        return y;
    }

    private OnnxValue BatchNorm(BatchNorm2d norm, OnnxValue x)
    {
        if (norm.running_mean is null || norm.running_var is null)
            throw new NotSupportedException($"ONNX export needs running statistics in the batch norm '{Path}' (it was "
                + "built with track_running_stats = false).");
        long channels = norm.num_features;
        string scale = norm.weight is { } w ? Weight("weight", w) : Constant("weight", Enumerable.Repeat(1f, (int)channels).ToArray(), [channels]);
        string shift = norm.bias is { } b ? Weight("bias", b) : Constant("bias", new float[channels], [channels]);
        var y = Output("batchnorm", x.Shape);
        _graph.Node("BatchNormalization",
            [x.Name, scale, shift, Weight("running_mean", norm.running_mean), Weight("running_var", norm.running_var)],
            [y.Name])
            .Attribute("epsilon", (float)norm.eps);
        return y;
    }

    private OnnxValue AvgPool(AvgPool2d pool, OnnxValue x)
    {
        if (pool.divisor_override is not null)
            throw new NotSupportedException($"ONNX export does not support the divisor override of the average pooling '{Path}'.");
        long[] kernel = Pair(pool.kernel_size), stride = Pair(pool.stride ?? pool.kernel_size), padding = Pair(pool.padding ?? [0]);
        long[] pads = [padding[0], padding[1], padding[0], padding[1]];
        var y = Output("avgpool",
            [x[0], x[1], Spatial(x[2], kernel[0], stride[0], pads[0], pads[2], 1, pool.ceil_mode),
                Spatial(x[3], kernel[1], stride[1], pads[1], pads[3], 1, pool.ceil_mode)]);
        _graph.Node("AveragePool", [x.Name], [y.Name])
            .Attribute("kernel_shape", kernel).Attribute("strides", stride).Attribute("pads", pads)
            .Attribute("ceil_mode", pool.ceil_mode ? 1L : 0L).Attribute("count_include_pad", pool.count_include_pad ? 1L : 0L);
        return y;
    }

    private OnnxValue Linear(Linear linear, OnnxValue x)
    {
        if (x.Rank != 2)
            throw new NotSupportedException($"ONNX export writes the Linear layer '{Path}' for a batch of vectors; it "
                + $"receives a tensor of rank {x.Rank}.");
        var inputs = new List<string> { x.Name, Weight("weight", linear.weight) };
        if (linear.bias is { } bias)
            inputs.Add(Weight("bias", bias));
        var y = Output("linear", [x[0], linear.out_features]);
        _graph.Node("Gemm", inputs, [y.Name]).Attribute("transB", 1L);
        return y;
    }

    // ---- Operators for IOnnxModule blocks ----

    public OnnxValue Relu(OnnxValue x) => Unary("Relu", x);

    /// <summary>PyTorch's exact GELU, x · (1 + erf(x / √2)) / 2, from operators every opset has (Gelu itself came in opset 20).</summary>
    public OnnxValue Gelu(OnnxValue x)
    {
        var erf = Unary("Erf", Scale(x, (float)(1 / Math.Sqrt(2))));
        var onePlus = Output("add", x.Shape);
        _graph.Node("Add", [erf.Name, Constant("one", [1f], [1])], [onePlus.Name]);
        var product = Output("mul", x.Shape);
        _graph.Node("Mul", [x.Name, onePlus.Name], [product.Name]);
        return Scale(product, 0.5f);
    }

    public OnnxValue MaxPool(OnnxValue x, long[] kernelSize, long[]? strideSize = null, long[]? padding = null,
        long[]? dilation = null, bool ceilMode = false)
    {
        long[] kernel = Pair(kernelSize), stride = Pair(strideSize ?? kernelSize), pad = Pair(padding ?? [0]), dil = Pair(dilation ?? [1]);
        long[] pads = [pad[0], pad[1], pad[0], pad[1]];
        var y = Output("maxpool",
            [x[0], x[1], Spatial(x[2], kernel[0], stride[0], pads[0], pads[2], dil[0], ceilMode),
                Spatial(x[3], kernel[1], stride[1], pads[1], pads[3], dil[1], ceilMode)]);
        _graph.Node("MaxPool", [x.Name], [y.Name])
            .Attribute("kernel_shape", kernel).Attribute("strides", stride).Attribute("pads", pads)
            .Attribute("dilations", dil).Attribute("ceil_mode", ceilMode ? 1L : 0L);
        return y;
    }

    /// <summary>PyTorch's adaptive average pooling: global pooling, a plain pooling when the size divides, else two
    /// averaging matrix products.</summary>
    public OnnxValue AdaptiveAvgPool(OnnxValue x, long[] outputSize)
    {
        long[] size = Pair(outputSize);
        if (size[0] == 1 && size[1] == 1)
            return Global("GlobalAveragePool", x);
        if (size[0] == x[2] && size[1] == x[3])
            return x;
        if (x[2] % size[0] == 0 && x[3] % size[1] == 0)
        {
            long[] kernel = [x[2] / size[0], x[3] / size[1]];
            var pooled = Output("avgpool", [x[0], x[1], size[0], size[1]]);
            _graph.Node("AveragePool", [x.Name], [pooled.Name]).Attribute("kernel_shape", kernel).Attribute("strides", kernel);
            return pooled;
        }
        // Each output cell averages the input cells [floor(i·in/out), ceil((i+1)·in/out)): a row average then a column average.
        string rows = Constant("adaptive_rows", AveragingMatrix(size[0], x[2]), [size[0], x[2]]);
        string columns = Constant("adaptive_columns", Transposed(AveragingMatrix(size[1], x[3]), size[1], x[3]), [x[3], size[1]]);
        var byRows = Output("adaptive_avgpool_rows", [x[0], x[1], size[0], x[3]]);
        _graph.Node("MatMul", [rows, x.Name], [byRows.Name]);
        var y = Output("adaptive_avgpool", [x[0], x[1], size[0], size[1]]);
        _graph.Node("MatMul", [byRows.Name, columns], [y.Name]);
        return y;
    }

    public OnnxValue AdaptiveMaxPool(OnnxValue x, long[] outputSize)
    {
        long[] size = Pair(outputSize);
        if (size[0] == 1 && size[1] == 1)
            return Global("GlobalMaxPool", x);
        if (x[2] % size[0] == 0 && x[3] % size[1] == 0)
            return MaxPool(x, [x[2] / size[0], x[3] / size[1]]);
        throw new NotSupportedException($"ONNX export supports adaptive max pooling ('{Path}') to 1×1 or to a size "
            + $"that divides the input ({x[2]}×{x[3]} to {size[0]}×{size[1]} does not).");
    }

    /// <summary>Flattens dimensions <paramref name="startDim"/>..<paramref name="endDim"/> into one.</summary>
    public OnnxValue Flatten(OnnxValue x, long startDim = 1, long endDim = -1)
    {
        int start = (int)(startDim < 0 ? startDim + x.Rank : startDim), end = (int)(endDim < 0 ? endDim + x.Rank : endDim);
        if (start == 1 && end == x.Rank - 1)
        {
            var flat = Output("flatten", [x[0], x.Shape.Skip(1).Aggregate(1L, (a, b) => a * b)]);
            _graph.Node("Flatten", [x.Name], [flat.Name]).Attribute("axis", 1L);
            return flat;
        }
        if (start < 1)
            throw new NotSupportedException($"ONNX export does not flatten the batch dimension ('{Path}').");
        long[] shape = [.. x.Shape[..start], x.Shape[start..(end + 1)].Aggregate(1L, (a, b) => a * b), .. x.Shape[(end + 1)..]];
        return Reshape(x, shape);
    }

    public OnnxValue Reshape(OnnxValue x, long[] shape)
    {
        var y = Output("reshape", shape);
        _graph.Node("Reshape", [x.Name, Int64s("shape", [0, .. shape.Skip(1)])], [y.Name]);
        return y;
    }

    public OnnxValue Add(OnnxValue a, OnnxValue b)
    {
        var y = Output("add", a.Shape);
        _graph.Node("Add", [a.Name, b.Name], [y.Name]);
        return y;
    }

    public OnnxValue Scale(OnnxValue x, float factor)
    {
        var y = Output("mul", x.Shape);
        _graph.Node("Mul", [x.Name, Constant("factor", [factor], [1])], [y.Name]);
        return y;
    }

    /// <summary>Concatenates along the channels.</summary>
    public OnnxValue ConcatChannels(IReadOnlyList<OnnxValue> values)
    {
        var y = Output("concat", [values[0][0], values.Sum(v => v[1]), .. values[0].Shape.Skip(2)]);
        _graph.Node("Concat", values.Select(v => v.Name).ToList(), [y.Name]).Attribute("axis", 1L);
        return y;
    }

    /// <summary>Elements start, start + step, ... below end along each of <paramref name="axes"/>.</summary>
    public OnnxValue Slice(OnnxValue x, long[] axes, long[] starts, long[] ends, long[] steps)
    {
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < axes.Length; i++)
        {
            long end = Math.Min(ends[i], x[(int)axes[i]]);
            shape[axes[i]] = (end - starts[i] + steps[i] - 1) / steps[i];
        }
        var y = Output("slice", shape);
        _graph.Node("Slice", [x.Name, Int64s("starts", starts), Int64s("ends", ends), Int64s("axes", axes), Int64s("steps", steps)], [y.Name]);
        return y;
    }

    /// <summary>
    /// <paramref name="x"/> combined with a constant per channel (<paramref name="op"/>: Sub, Mul, Div), the constant
    /// shaped 1×C×1×1 so it broadcasts over N×C×H×W.
    /// </summary>
    public OnnxValue PerChannel(string op, OnnxValue x, string name, float[] values)
    {
        // One value per channel broadcasts over the pixels; a mean image (ML.NET's pretrained ResNet-18 subtracts one)
        // has a value per pixel and keeps the image's shape.
        bool perPixel = x.Rank == 4 && values.Length != x[1] && values.Length == x[1] * x[2] * x[3];
        long[] shape = perPixel ? [1, x[1], x[2], x[3]] : [1, values.Length, 1, 1];
        var y = Output(op.ToLowerInvariant(), x.Shape);
        _graph.Node(op, [x.Name, Constant(name, values, shape)], [y.Name]);
        return y;
    }

    /// <summary>The images mirrored left to right (the last axis reversed).</summary>
    public OnnxValue FlipWidth(OnnxValue x)
    {
        var y = Output("flip", x.Shape);
        _graph.Node("Slice",
            [x.Name, Int64s("flip_starts", [-1]), Int64s("flip_ends", [long.MinValue]),
                Int64s("flip_axes", [x.Rank - 1]), Int64s("flip_steps", [-1])], [y.Name]);
        return y;
    }

    /// <summary>N×C×H×W images padded by <paramref name="pixels"/> reflected pixels on each side (PyTorch's reflect padding).</summary>
    public OnnxValue PadReflect(OnnxValue x, long pixels)
    {
        var y = Output("pad", [x[0], x[1], x[2] < 0 ? -1 : x[2] + 2 * pixels, x[3] < 0 ? -1 : x[3] + 2 * pixels]);
        _graph.Node("Pad", [x.Name, Int64s("pads", [0, 0, pixels, pixels, 0, 0, pixels, pixels])], [y.Name]).Attribute("mode", "reflect");
        return y;
    }

    /// <summary>Stacks batches one after the other.</summary>
    public OnnxValue ConcatBatch(params OnnxValue[] batches)
    {
        var y = Output("concat_batch", batches[0].Shape);
        _graph.Node("Concat", batches.Select(b => b.Name).ToList(), [y.Name]).Attribute("axis", 0L);
        return y;
    }

    /// <summary>The two halves of a batch (the first rows, then the rest).</summary>
    public (OnnxValue First, OnnxValue Second) SplitBatch(OnnxValue x)
    {
        var halves = SplitBatch(x, 2);
        return (halves[0], halves[1]);
    }

    /// <summary>A batch cut into <paramref name="parts"/> equal parts, in order.</summary>
    public OnnxValue[] SplitBatch(OnnxValue x, int parts)
    {
        var outputs = Enumerable.Range(0, parts).Select(i => Output($"part{i}", x.Shape)).ToArray();
        _graph.Node("Split", [x.Name], outputs.Select(o => o.Name).ToList()).Attribute("axis", 0L);
        return outputs;
    }

    /// <summary>Softmax over the classes of N×K scores.</summary>
    public OnnxValue Softmax(OnnxValue x)
    {
        var y = Output("softmax", x.Shape);
        _graph.Node("Softmax", [x.Name], [y.Name]).Attribute("axis", 1L);
        return y;
    }

    /// <summary>
    /// ML.NET's key of the largest value per row: its 1-based index as uint32, N×1; 0 (ML.NET's missing key) on the
    /// rows <paramref name="noClass"/> marks.
    /// </summary>
    public OnnxValue ArgMaxKey(OnnxValue x, OnnxValue noClass)
    {
        var index = Output("argmax", [x[0], 1]);
        _graph.Node("ArgMax", [x.Name], [index.Name]).Attribute("axis", 1L).Attribute("keepdims", 1L);
        var oneBased = Output("key", index.Shape);
        _graph.Node("Add", [index.Name, Int64s("one", [1])], [oneBased.Name]);
        var masked = Output("key_masked", index.Shape);
        _graph.Node("Where", [noClass.Name, Int64s("missing_key", [0]), oneBased.Name], [masked.Name]);
        var key = Output("key_uint32", index.Shape);
        _graph.Node("Cast", [masked.Name], [key.Name]).Attribute("to", OnnxUInt32);
        return key;
    }

    /// <summary>
    /// N×1 booleans: true where a row of <paramref name="x"/> holds a NaN or infinite value (x · 0 is 0 for finite x and
    /// NaN otherwise, so one sum per row tells, as the library checks).
    /// </summary>
    public OnnxValue NonFiniteRows(OnnxValue x)
    {
        var flat = x.Rank == 2 ? x : Flatten(x);
        var zeros = Output("times_zero", flat.Shape);
        _graph.Node("Mul", [flat.Name, Constant("zero", [0f], [1])], [zeros.Name]);
        var sums = Output("row_sum", [x[0], 1]);
        _graph.Node("ReduceSum", [zeros.Name], [sums.Name]).Attribute("axes", [1L]).Attribute("keepdims", 1L);
        var mask = Output("non_finite", sums.Shape);
        _graph.Node("IsNaN", [sums.Name], [mask.Name]);
        return mask;
    }

    /// <summary>NaN in every value of the rows <paramref name="rows"/> marks (N×1), <paramref name="x"/> elsewhere.</summary>
    public OnnxValue NaNWhere(OnnxValue rows, OnnxValue x)
    {
        var y = Output("nan_rows", x.Shape);
        _graph.Node("Where", [rows.Name, Constant("nan", [float.NaN], [1]), x.Name], [y.Name]);
        return y;
    }

    /// <summary>Copies <paramref name="x"/> into the variable of an output column.</summary>
    public void WriteTo(OnnxValue x, string variable) => _graph.Node("Identity", [x.Name], [variable]);

    // ONNX TensorProto.DataType of uint32, the representation of ML.NET keys.
    private const long OnnxUInt32 = 12;

    // ---- Helpers ----

    private OnnxValue Unary(string op, OnnxValue x)
    {
        var y = Output(op.ToLowerInvariant(), x.Shape);
        _graph.Node(op, [x.Name], [y.Name]);
        return y;
    }

    private OnnxValue Global(string op, OnnxValue x)
    {
        var y = Output(op.ToLowerInvariant(), [x[0], x[1], 1, 1]);
        _graph.Node(op, [x.Name], [y.Name]);
        return y;
    }

    private OnnxValue Output(string kind, long[] shape) => new(_graph.Intermediate($"{Path}.{kind}"), shape);

    /// <summary>A parameter or buffer stored under its state_dict name.</summary>
    private string Weight(string name, Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        if (cpu.dtype != ScalarType.Float32)
            throw new NotSupportedException($"ONNX export writes float32 weights; '{Path}.{name}' is {cpu.dtype}.");
        return _graph.Initializer($"{Path}.{name}", cpu.data<float>().ToArray(), cpu.shape);
    }

    private string Constant(string name, float[] values, long[] dims) => _graph.Initializer($"{Path}.{name}", values, dims);

    private string Int64s(string name, long[] values) => _graph.Initializer($"{Path}.{name}", values, [values.Length]);

    private static long[] Pair(long[] values) => values.Length == 1 ? [values[0], values[0]] : values;

    /// <summary>PyTorch's output length of a convolution or pooling along one axis.</summary>
    private static long Spatial(long size, long kernel, long stride, long padBegin, long padEnd, long dilation, bool ceilMode)
    {
        if (size < 0)
            return -1;
        long span = size + padBegin + padEnd - dilation * (kernel - 1) - 1;
        long output = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
        // PyTorch (and ONNX Runtime) drop a last window that would start in the right padding.
        if (ceilMode && (output - 1) * stride >= size + padBegin)
            output--;
        return output;
    }

    private static float[] AveragingMatrix(long outputs, long inputs)
    {
        var matrix = new float[outputs * inputs];
        for (long i = 0; i < outputs; i++)
        {
            long start = i * inputs / outputs, end = ((i + 1) * inputs + outputs - 1) / outputs;
            for (long j = start; j < end; j++)
                matrix[i * inputs + j] = 1f / (end - start);
        }
        return matrix;
    }

    private static float[] Transposed(float[] matrix, long rows, long columns)
    {
        var result = new float[matrix.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < columns; c++)
                result[c * rows + r] = matrix[r * columns + c];
        return result;
    }
}
