using MlNetCnn.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>The network's log class probabilities for a batch, averaged over the <see cref="TestTimeAugmentation"/> variants.</summary>
internal static class TestTimeAugmenter
{
    /// <summary>
    /// Log-probabilities, batch × classes, of a standardized batch. Each forward pass takes a variant and its mirror
    /// (twice the batch, at most), so scoring needs no more memory than with a flip; the last pass holds the original
    /// images first, so a hook that captures per-image features keeps the first rows of its last capture. The weighted
    /// mean of the probabilities is computed in log space.
    /// </summary>
    public static Tensor LogProbabilities(NetworkCall network, Tensor batch, TestTimeAugmentation augmentation)
    {
        switch (augmentation)
        {
            case TestTimeAugmentation.None:
                return nn.functional.log_softmax(network.Forward(batch), 1);
            case TestTimeAugmentation.HorizontalFlip:
                // log((p + q) / 2).
                return WeightedMean([.. WithMirror(network, batch)], Math.Log(0.5));
            case TestTimeAugmentation.HorizontalFlipAndTranslation:
                long height = batch.shape[2], width = batch.shape[3];
                // The image padded by one reflected pixel, cropped at its top-left and bottom-right corners: the
                // content moved one pixel down-right and one pixel up-left (airbench94's tta_level 2).
                var padded = nn.functional.pad(batch, [1, 1, 1, 1], PaddingModes.Reflect);
                var shifted = WithMirror(network, padded.narrow(2, 0, height).narrow(3, 0, width))
                    .Concat(WithMirror(network, padded.narrow(2, 2, height).narrow(3, 2, width)));
                // Last, so that the last forward pass starts with the images themselves.
                var original = WithMirror(network, batch);
                // (p + p') / 4 + (a + a' + b + b') / 8.
                return stack([WeightedMean(original, Math.Log(0.25)), WeightedMean([.. shifted], Math.Log(0.125))]).logsumexp(0);
            default:
                throw new ArgumentOutOfRangeException(nameof(augmentation), augmentation, "Unknown test-time augmentation.");
        }
    }

    /// <summary>The views each image is scored in: 1, 2 (with its mirror) or 6.</summary>
    public static int Views(TestTimeAugmentation augmentation) => augmentation switch
    {
        TestTimeAugmentation.HorizontalFlip => 2,
        TestTimeAugmentation.HorizontalFlipAndTranslation => 6,
        _ => 1,
    };

    /// <summary>Whether <paramref name="augmentation"/> can score images of <paramref name="shape"/> (one reflected
    /// pixel needs two per side).</summary>
    public static bool Fits(TestTimeAugmentation augmentation, ImageShape shape)
        => augmentation != TestTimeAugmentation.HorizontalFlipAndTranslation || (shape.Height >= 2 && shape.Width >= 2);

    /// <summary>The log-probabilities of <paramref name="images"/> and of their mirror images, from one forward pass.</summary>
    private static Tensor[] WithMirror(NetworkCall network, Tensor images)
    {
        long count = images.shape[0];
        var logProbabilities = nn.functional.log_softmax(network.Forward(cat([images, images.flip(3)], 0)), 1);
        return [logProbabilities.narrow(0, 0, count), logProbabilities.narrow(0, count, count)];
    }

    /// <summary>log(Σ w·pᵢ) for log-probabilities log pᵢ that all have the weight w (given as log w).</summary>
    private static Tensor WeightedMean(Tensor[] logProbabilities, double logWeight) => stack(logProbabilities).logsumexp(0).Plus(logWeight);
}
