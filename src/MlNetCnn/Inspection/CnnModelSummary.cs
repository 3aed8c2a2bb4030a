using System.Globalization;
using System.Text;
using MlNetCnn.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// What a network is made of, in the manner of torchinfo or Keras' <c>summary()</c>: one row per layer call (name, type,
/// output shape, parameters, multiply-accumulates) and the totals. It is measured by one forward pass of a batch of one
/// zero image, in evaluation mode and without gradients, with a forward hook on every layer; the network's training
/// mode is restored afterwards and its weights are not touched.
/// <para>
/// Rows are the leaf modules (and any module holding parameters of its own), in the order the forward pass calls them.
/// Multiply-accumulates count Conv2d (output elements × input channels per group × kernel area) and Linear (output
/// elements × input features) per image; batch norm, activations, pooling and additions are not counted.
/// </para>
/// </summary>
public sealed class CnnModelSummary
{
    private CnnModelSummary(string modelName, ImageShape inputShape, IReadOnlyList<long> outputShape, IReadOnlyList<CnnLayerSummary> layers,
        long totalParameters, long trainableParameters, long parameterBytes, long bufferBytes)
    {
        ModelName = modelName;
        InputShape = inputShape;
        OutputShape = outputShape;
        Layers = layers;
        TotalParameters = totalParameters;
        TrainableParameters = trainableParameters;
        ParameterBytes = parameterBytes;
        BufferBytes = bufferBytes;
        MultiplyAccumulates = layers.Sum(l => l.MultiplyAccumulates);
    }

    /// <summary>The architecture's name, or the module's type name.</summary>
    public string ModelName { get; }

    /// <summary>The shape of one input image.</summary>
    public ImageShape InputShape { get; }

    /// <summary>The network's output shape for a batch of one image (e.g. [1, classes]).</summary>
    public IReadOnlyList<long> OutputShape { get; }

    /// <summary>The layer calls, in forward order.</summary>
    public IReadOnlyList<CnnLayerSummary> Layers { get; }

    /// <summary>All parameters (weights and biases; not batch-norm running statistics).</summary>
    public long TotalParameters { get; }

    /// <summary>The parameters that require gradients.</summary>
    public long TrainableParameters { get; }

    /// <summary>Multiply-accumulates of one image's forward pass (Conv2d and Linear).</summary>
    public long MultiplyAccumulates { get; }

    /// <summary>Memory the parameters occupy, in bytes.</summary>
    public long ParameterBytes { get; }

    /// <summary>Memory the buffers (batch-norm running statistics) occupy, in bytes.</summary>
    public long BufferBytes { get; }

    /// <summary>
    /// Summarizes <paramref name="module"/> for images of <paramref name="inputShape"/>. Do not run the module on another
    /// thread meanwhile: the hooks are added to it for the duration of the call.
    /// </summary>
    /// <param name="module">The network; left as it was (mode, weights) afterwards.</param>
    /// <param name="inputShape">The image shape of the zero image run through it.</param>
    /// <param name="modelName">The name shown in the title; null for the module's own.</param>
    /// <returns>The summary.</returns>
    public static CnnModelSummary Create(nn.Module<Tensor, Tensor> module, ImageShape inputShape, string? modelName = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        TorchRuntime.EnsureInitialized();
        var names = new Dictionary<nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, layer) in module.named_modules().Prepend(("(root)", module)))
        {
            if (!layer.named_children().Any() || layer.named_parameters(recurse: false).Any())
                names.TryAdd(layer, name);
        }

        var rows = new List<CnnLayerSummary>();
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        void Record(nn.Module layer, Tensor output)
        {
            long macs = layer switch
            {
                Conv2d conv => output.numel() * conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3],
                Linear linear => output.numel() * linear.weight.shape[1],
                _ => 0,
            };
            long parameters = seen.Add(layer) ? CountParameters(layer.parameters()) : 0;
            rows.Add(new CnnLayerSummary(names[layer], layer.GetType().Name, output.shape, parameters, macs));
        }

        var removers = names.Keys.OfType<nn.Module<Tensor, Tensor>>()
            .Select(layer => layer.register_forward_hook((m, _, output) => { Record(m, output); return null!; }))
            .ToList();
        bool wasTraining = module.training;
        IReadOnlyList<long> outputShape;
        try
        {
            module.eval();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var device = module.parameters().FirstOrDefault()?.device ?? CPU;
            var output = module.call(zeros([1, inputShape.Channels, inputShape.Height, inputShape.Width], device: device));
            outputShape = output.shape;
        }
        finally
        {
            foreach (var remover in removers)
                remover.remove();
            module.train(wasTraining);
        }

        // Layers the forward pass never reached still own parameters; list them so the column adds up.
        foreach (var (layer, name) in names)
        {
            if (!seen.Contains(layer) && layer.parameters().Any())
                rows.Add(new CnnLayerSummary(name, layer.GetType().Name, null, CountParameters(layer.parameters()), 0));
        }

        var all = module.parameters().ToList();
        return new CnnModelSummary(modelName ?? module.GetName(), inputShape, outputShape, rows,
            CountParameters(all), CountParameters(all.Where(p => p.requires_grad)),
            all.Sum(p => p.numel() * p.element_size()), module.buffers().Sum(b => b.numel() * b.element_size()));
    }

    private static long CountParameters(IEnumerable<Tensor> parameters) => parameters.Sum(p => p.numel());

    /// <summary>The summary as a text table followed by the totals.</summary>
    public override string ToString()
    {
        var culture = CultureInfo.InvariantCulture;
        string[] header = ["Layer", "Type", "Output shape", "Parameters", "MACs"];
        var cells = Layers.Select(l => new[]
        {
            l.Name, l.Type, l.OutputShape is null ? "(not called)" : Shape(l.OutputShape),
            l.Parameters.ToString("N0", culture), l.MultiplyAccumulates.ToString("N0", culture),
        }).ToList();
        var widths = header.Select((h, i) => cells.Select(c => c[i].Length).Append(h.Length).Max()).ToArray();
        string Line(string[] row) =>
            string.Join("  ", row.Select((cell, i) => i >= 3 ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i])))
            .TrimEnd();
        int ruleWidth = widths.Sum() + 2 * (widths.Length - 1);

        var text = new StringBuilder();
        text.AppendLine(culture, $"{ModelName} on {InputShape} images → {Shape(OutputShape)}");
        text.AppendLine(new string('=', ruleWidth));
        text.AppendLine(Line(header));
        text.AppendLine(new string('-', ruleWidth));
        foreach (var row in cells)
            text.AppendLine(Line(row));
        text.AppendLine(new string('=', ruleWidth));
        text.AppendLine(culture, $"Total parameters:      {TotalParameters:N0}");
        text.AppendLine(culture, $"Trainable parameters:  {TrainableParameters:N0}");
        text.AppendLine(culture, $"Multiply-accumulates:  {MultiplyAccumulates:N0} per image (Conv2d and Linear)");
        text.AppendLine(culture, $"Parameter memory:      {ParameterBytes:N0} bytes ({ParameterBytes / 1048576.0:F2} MiB)");
        text.Append(culture, $"Buffer memory:         {BufferBytes:N0} bytes ({BufferBytes / 1048576.0:F2} MiB)");
        return text.ToString();
    }

    private static string Shape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";
}
