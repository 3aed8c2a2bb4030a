using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>The network's log class probabilities for a batch, averaged over the <see cref="TestTimeAugmentation"/> variants.</summary>
internal static class TestTimeAugmenter
{
    /// <summary>
    /// Log-probabilities, batch × classes, of a standardized batch. With a flip the batch and its mirror go through one
    /// forward pass of twice the size (the original images first, so a hook that captures per-image features can keep the
    /// first half), and their probabilities are averaged in log space.
    /// </summary>
    public static Tensor LogProbabilities(nn.Module<Tensor, Tensor> module, Tensor batch, TestTimeAugmentation augmentation)
    {
        switch (augmentation)
        {
            case TestTimeAugmentation.None:
                return nn.functional.log_softmax(module.call(batch), 1);
            case TestTimeAugmentation.HorizontalFlip:
                long count = batch.shape[0];
                var logProbabilities = nn.functional.log_softmax(module.call(cat([batch, batch.flip(3)], 0)), 1);
                // log((p + q) / 2), computed without leaving log space.
                return stack([logProbabilities.narrow(0, 0, count), logProbabilities.narrow(0, count, count)]).logsumexp(0) - Math.Log(2);
            default:
                throw new ArgumentOutOfRangeException(nameof(augmentation), augmentation, "Unknown test-time augmentation.");
        }
    }
}
