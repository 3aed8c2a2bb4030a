using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// Normalizes planar CHW images per channel: fits each channel's mean and standard deviation on the training data
/// (e.g. Fashion-MNIST ≈ 0.2860 / 0.3530; CIFAR-10 ≈ (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616)), or uses the
/// values given. The resulting <see cref="ImageNormalizingTransformer"/> applies them in training and scoring and is
/// saved with the model. (<see cref="CnnTrainer"/> also standardizes inside the network by default; this component is
/// for pipelines that want the normalized column itself, or published constants.)
/// </summary>
public sealed class ImageNormalizingEstimator : IEstimator<ImageNormalizingTransformer>
{
    private readonly float[]? _mean;
    private readonly float[]? _std;

    /// <summary>Creates the estimator; with <paramref name="mean"/> and <paramref name="standardDeviation"/> nothing is fitted.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="outputColumnName">The normalized image column written.</param>
    /// <param name="inputColumnName">The image column read (planar CHW floats); null for <paramref name="outputColumnName"/>.</param>
    /// <param name="mean">Per-channel means to subtract; null to fit them on the data.</param>
    /// <param name="standardDeviation">Per-channel standard deviations to divide by; null to fit them on the data.</param>
    public ImageNormalizingEstimator(MLContext mlContext, string outputColumnName, string? inputColumnName = null,
        IReadOnlyList<float>? mean = null, IReadOnlyList<float>? standardDeviation = null)
        : this(outputColumnName, inputColumnName, mean, standardDeviation)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
    }

    internal ImageNormalizingEstimator(string outputColumnName, string? inputColumnName, IReadOnlyList<float>? mean,
        IReadOnlyList<float>? standardDeviation)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputColumnName);
        if ((mean is null) != (standardDeviation is null))
            throw new ArgumentException("Give both the mean and the standard deviation, or neither (to fit them).");
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName ?? outputColumnName;
        _mean = mean?.ToArray();
        _std = standardDeviation?.ToArray();
    }

    /// <summary>The column written.</summary>
    public string OutputColumnName { get; }

    /// <summary>The column read.</summary>
    public string InputColumnName { get; }

    /// <inheritdoc />
    public ImageNormalizingTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (column, shape) = InputColumns.ResolveImage(input.Schema, InputColumnName, null, null, null, "image normalization input");
        if (_mean != null && _std != null)
            return new ImageNormalizingTransformer(OutputColumnName, InputColumnName, shape, _mean, _std);

        var statistics = new ChannelStatistics(shape);
        var dense = new float[shape.Size];
        VBuffer<float> buffer = default;
        using (var cursor = input.GetRowCursor([column]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                buffer.CopyTo(dense);
                statistics.Add(dense);
            }
        }
        return new ImageNormalizingTransformer(OutputColumnName, InputColumnName, shape, statistics.Mean(), statistics.StandardDeviation());
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var input = InputColumns.ResolveImage(inputSchema, InputColumnName, "image normalization input");
        var columns = inputSchema.Where(c => c.Name != OutputColumnName).ToList();
        columns.Add(MlNetInternals.ShapeColumn(OutputColumnName, input.Kind, input.ItemType, false, input.Annotations));
        return new SchemaShape(columns);
    }
}
