using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>A mixed training batch: the images, each image's partner in the batch, and the share of the first label.</summary>
/// <param name="Images">The mixed images, [N, C, H, W].</param>
/// <param name="Partners">For each image, the batch position of the image mixed into it (int64, [N]).</param>
/// <param name="Share">λ: the weight of each image's own label; its partner's label weighs 1 − λ.</param>
internal readonly record struct MixedBatch(Tensor Images, Tensor Partners, double Share)
{
    /// <summary>Share × loss(own labels) + (1 − Share) × loss(partners' labels).</summary>
    public Tensor Loss(Tensor logits, Tensor target, double labelSmoothing)
        => nn.functional.cross_entropy(logits, target, label_smoothing: labelSmoothing) * Share
            + nn.functional.cross_entropy(logits, PartnerTargets(target), label_smoothing: labelSmoothing) * (1 - Share);

    /// <summary>Correct predictions, each image's two labels counted by their shares.</summary>
    public double Correct(Tensor predicted, Tensor target)
        => Share * predicted.eq(target).sum().item<long>() + (1 - Share) * predicted.eq(PartnerTargets(target)).sum().item<long>();

    private Tensor PartnerTargets(Tensor target) => target.index_select(0, Partners.to(target.device));
}

/// <summary>
/// Applies <see cref="MixingOptions"/> to a training batch (Mixup or CutMix). Every draw (whether to mix, which
/// method, the partners, λ and CutMix's rectangle) comes from the <see cref="Random"/> the trainer seeds from its seed
/// and step, so a resumed run mixes exactly as an uninterrupted one.
/// </summary>
/// <param name="options">What to draw.</param>
internal sealed class BatchMixer(MixingOptions options)
{
    /// <summary>Mixes the batch, or returns null for a batch drawn to stay unmixed. New tensors go to the caller's
    /// dispose scope; the input is not modified.</summary>
    /// <param name="images">The images, [N, C, H, W].</param>
    /// <param name="random">The draws for this batch.</param>
    public MixedBatch? Apply(Tensor images, Random random)
    {
        if (random.NextDouble() >= options.Probability)
            return null;
        bool cutMix = options.CutMixAlpha > 0 && (options.MixupAlpha == 0 || random.NextDouble() < 0.5);
        var order = new long[images.shape[0]];
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        random.Shuffle(order);
        var partners = tensor(order).to(images.device);
        var shuffled = images.index_select(0, partners);
        if (!cutMix)
        {
            double share = Beta(random, options.MixupAlpha);
            return new MixedBatch(images * (float)share + shuffled * (float)(1 - share), partners, share);
        }

        // A rectangle of about 1 − λ of the image, centred anywhere, clipped to the image; λ is then the share left.
        int height = (int)images.shape[2], width = (int)images.shape[3];
        double side = Math.Sqrt(1 - Beta(random, options.CutMixAlpha));
        int cutHeight = (int)(height * side), cutWidth = (int)(width * side);
        int centreY = random.Next(height), centreX = random.Next(width);
        int top = Math.Clamp(centreY - cutHeight / 2, 0, height), bottom = Math.Clamp(centreY + cutHeight / 2, 0, height);
        int left = Math.Clamp(centreX - cutWidth / 2, 0, width), right = Math.Clamp(centreX + cutWidth / 2, 0, width);
        var mixed = images.clone();
        if (bottom > top && right > left)
            mixed.narrow(2, top, bottom - top).narrow(3, left, right - left)
                .copy_(shuffled.narrow(2, top, bottom - top).narrow(3, left, right - left));
        return new MixedBatch(mixed, partners, 1 - (double)(bottom - top) * (right - left) / (height * width));
    }

    /// <summary>A draw from Beta(α, α): X / (X + Y) with X and Y drawn from Gamma(α, 1).</summary>
    internal static double Beta(Random random, double alpha)
    {
        double x = Gamma(random, alpha), y = Gamma(random, alpha);
        return x + y > 0 ? x / (x + y) : 0.5;
    }

    /// <summary>Marsaglia and Tsang's Gamma(α, 1) sampler; α below 1 via Gamma(α + 1) × U^(1/α).</summary>
    private static double Gamma(Random random, double alpha)
    {
        if (alpha < 1)
            return Gamma(random, alpha + 1) * Math.Pow(1 - random.NextDouble(), 1 / alpha);
        double d = alpha - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z = Normal(random), v = 1 + c * z;
            if (v <= 0)
                continue;
            v = v * v * v;
            double u = 1 - random.NextDouble();
            if (Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v))
                return d * v;
        }
    }

    private static double Normal(Random random)
        => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
