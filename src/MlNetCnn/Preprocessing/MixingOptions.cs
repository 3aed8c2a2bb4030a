namespace MlNetCnn;

/// <summary>
/// Mixes the training images of a batch in pairs, and their labels in the same shares: Mixup (Zhang et al., 2018)
/// blends two whole images, CutMix (Yun et al., 2019) pastes a rectangle of one image into the other. Both regularize
/// against overfitting a small training set, the usual state of a fine-tuned pretrained network; they slow down how
/// fast the training loss falls, so they pay off over several epochs rather than one or two.
/// </summary>
/// <remarks>
/// A mixed batch pairs every image with another image of the same batch (a seeded random permutation) and draws one
/// share λ from Beta(α, α): the loss is λ × loss(first label) + (1 − λ) × loss(second label). CutMix's λ is the share
/// of the image left unpasted, after the rectangle is clipped to the image. Validation, scoring and test-time
/// augmentation never mix. With mixing on, the training accuracy the trainer reports counts each image's two labels by
/// their shares.
/// </remarks>
public sealed class MixingOptions
{
    /// <summary>Mixup's α: the shares are drawn from Beta(α, α); 0 (default) turns Mixup off. 0.2–0.4 is typical.</summary>
    public double MixupAlpha { get; set; }

    /// <summary>CutMix's α: the unpasted share is drawn from Beta(α, α); 0 (default) turns CutMix off. 1 is typical.</summary>
    public double CutMixAlpha { get; set; }

    /// <summary>The share of training batches that are mixed, in (0, 1]. Default 1. With both α set, each mixed batch
    /// uses one of the two, with equal chance.</summary>
    public double Probability { get; set; } = 1;

    /// <summary>Mixup with the given α on every batch.</summary>
    /// <param name="alpha">The Beta distribution's α, positive (0.2 is typical).</param>
    /// <param name="probability">The share of batches mixed.</param>
    /// <returns>The options.</returns>
    public static MixingOptions Mixup(double alpha = 0.2, double probability = 1) => new() { MixupAlpha = alpha, Probability = probability };

    /// <summary>CutMix with the given α.</summary>
    /// <param name="alpha">The Beta distribution's α, positive (1 is typical: the pasted area is uniform).</param>
    /// <param name="probability">The share of batches mixed.</param>
    /// <returns>The options.</returns>
    public static MixingOptions CutMix(double alpha = 1, double probability = 1) => new() { CutMixAlpha = alpha, Probability = probability };

    internal void Validate()
    {
        if (!(MixupAlpha >= 0 && double.IsFinite(MixupAlpha)) || !(CutMixAlpha >= 0 && double.IsFinite(CutMixAlpha)))
            throw new ArgumentOutOfRangeException(nameof(MixupAlpha),
                $"CnnTrainerOptions.Mixing: MixupAlpha ({MixupAlpha}) and CutMixAlpha ({CutMixAlpha}) must be finite "
                + "numbers, 0 or more.");
        if (MixupAlpha == 0 && CutMixAlpha == 0)
            throw new ArgumentException("CnnTrainerOptions.Mixing mixes nothing: set MixupAlpha or CutMixAlpha (or "
                + "both) above 0, or set Mixing to null.", nameof(MixupAlpha));
        if (!(Probability > 0 && Probability <= 1))
            throw new ArgumentOutOfRangeException(nameof(Probability), Probability,
                "CnnTrainerOptions.Mixing.Probability is the share of batches mixed and must be in (0, 1].");
    }

    /// <summary>A short description, e.g. for logs and the checkpoint fingerprint.</summary>
    /// <returns>The settings.</returns>
    public override string ToString() => $"mixing (mixup α {MixupAlpha:R}, cutmix α {CutMixAlpha:R}, probability {Probability:R})";
}
