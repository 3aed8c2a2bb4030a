using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// <see cref="CnnTrainerOptions.PatchWhitening"/>: sets the network's first convolution to whiten the training images'
/// patches and freezes its weights. The covariance is accumulated batch by batch (in double precision), so the memory
/// needed is one batch of patches whatever the image size.
/// </summary>
internal static class FirstLayerWhitening
{
    /// <summary>Images the covariance is estimated from (airbench uses 5,000).</summary>
    public const int SampleImages = 5_000;

    /// <summary>Added to every eigenvalue before its square root is taken, so near-constant directions are not blown up.</summary>
    public const double Epsilon = 5e-4;

    private const int BatchImages = 250;
    private const int SampleSeed = 17;

    /// <summary>Sets and freezes the first convolution's weights; returns a line for the training log.</summary>
    public static string Apply(nn.Module module, ITrainingBatchSource images, InputStandardization standardization,
        ImageShape shape, CancellationToken cancellation)
    {
        var (name, conv) = FirstConvolution(module);
        var weight = conv.weight!;
        long filters = weight.shape[0], kernelHeight = weight.shape[2], kernelWidth = weight.shape[3];
        long dimensions = shape.Channels * kernelHeight * kernelWidth;
        if (conv.groups != 1 || weight.shape[1] != shape.Channels || filters < dimensions)
            throw new ArgumentException(
                $"CnnTrainerOptions.PatchWhitening sets the first convolution ('{name}') to whiten " +
                $"{shape.Channels}×{kernelHeight}×{kernelWidth} patches, " +
                $"which needs an ungrouped convolution of the {shape.Channels} input channels with at least " +
                $"{dimensions} filters; it has {filters} filters of {weight.shape[1]} channels. " +
                "Use an architecture made for it (CnnArchitecture.AirbenchNet) or turn PatchWhitening off.");
        if (shape.Height < kernelHeight || shape.Width < kernelWidth)
            throw new ArgumentException($"CnnTrainerOptions.PatchWhitening: the images ({shape.Height}×{shape.Width}) "
                + $"are smaller than the first convolution's {kernelHeight}×{kernelWidth} patches.");

        var (covariance, patches) = PatchCovariance(images, standardization, shape, kernelHeight, kernelWidth, cancellation);
        using (covariance)
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var (eigenvalues, eigenvectors) = linalg.eigh(covariance);
            // eigh sorts ascending; the strongest directions come first, as in airbench.
            var scaled = eigenvectors.t().flip(0) / (eigenvalues.flip(0).clamp_min(0) + Epsilon).sqrt().unsqueeze(1);
            var whitening = scaled.to_type(ScalarType.Float32).reshape(dimensions, shape.Channels, kernelHeight, kernelWidth);
            long negatives = Math.Min(dimensions, filters - dimensions);
            var filled = negatives > 0 ? cat([whitening, -whitening.narrow(0, 0, negatives)], 0) : whitening;
            weight.narrow(0, 0, filled.shape[0]).copy_(filled.to(weight.device));
        }
        weight.requires_grad = false;
        return $"patch whitening of '{name}' from {patches:N0} {kernelHeight}×{kernelWidth} patches of " +
               $"{Math.Min(SampleImages, images.Count):N0} training images " +
               $"({dimensions} " +
               $"directions{(filters > dimensions ? $" and {Math.Min(dimensions, filters - dimensions)} negated" : "")}); its weights stay " +
               "fixed.";
    }

    private static (string Name, Conv2d Conv) FirstConvolution(nn.Module module)
    {
        foreach (var (name, layer) in module.named_modules())
        {
            if (layer is Conv2d conv)
                return (name, conv);
        }
        throw new ArgumentException("CnnTrainerOptions.PatchWhitening needs a network with a convolution; this one has none.");
    }

    // The mean of x xᵀ over every kh × kw patch (no padding) of SampleImages images, standardized as the network sees them.
    private static (Tensor Covariance, long Patches) PatchCovariance(ITrainingBatchSource images,
        InputStandardization standardization, ImageShape shape,
        long kernelHeight, long kernelWidth, CancellationToken cancellation)
    {
        long dimensions = shape.Channels * kernelHeight * kernelWidth;
        var sum = zeros(dimensions, dimensions, dtype: ScalarType.Float64);
        long patches = 0;
        int wanted = Math.Min(SampleImages, images.Count);
        try
        {
            using var batch = new BatchTensors(Math.Min(BatchImages, wanted), shape);
            // A seeded shuffle: data listed class by class (image folders) would otherwise give the first classes' patches only.
            using var stream = images.Read(new Random(SampleSeed), batch, cancellation);
            for (int seen = 0, count; seen < wanted && (count = stream.Next()) > 0; seen += count)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var (pixels, _) = batch.Take(Math.Min(count, wanted - seen));
                // N × C × H' × W' × kh × kw → one row per patch, ordered as the convolution's weight (C, kh, kw).
                var rows = standardization.Apply(pixels).unfold(2, kernelHeight, 1).unfold(3, kernelWidth, 1)
                    .permute(0, 2, 3, 1, 4, 5).reshape(-1, dimensions).to_type(ScalarType.Float64);
                sum.add_(rows.t().matmul(rows));
                patches += rows.shape[0];
            }
            sum.div_(patches);
            return (sum, patches);
        }
        catch
        {
            sum.Dispose();
            throw;
        }
    }
}
