namespace MlNetCnn;

/// <summary>
/// How the learning rate moves during training, relative to <see cref="CnnTrainerOptions.LearningRate"/> (the peak).
/// Schedules defined per batch (warm-up, cosine, one-cycle) change the rate every optimization step; schedules defined
/// per epoch (step, multi-step) change it at epoch boundaries, as in PyTorch's <c>torch.optim.lr_scheduler</c>.
/// </summary>
public abstract class LearningRateSchedule
{
    private protected LearningRateSchedule()
    {
    }

    /// <summary>A short description, e.g. for logs.</summary>
    public abstract override string ToString();

    /// <summary>
    /// The learning rate for optimization step <paramref name="step"/> (counted from 0 over the whole run) of a run of
    /// <paramref name="epochs"/> epochs with <paramref name="stepsPerEpoch"/> steps each.
    /// </summary>
    /// <param name="peak">The peak rate (<see cref="CnnTrainerOptions.LearningRate"/>).</param>
    /// <param name="step">The optimization step, from 0 over the whole run.</param>
    /// <param name="stepsPerEpoch">Steps in each epoch.</param>
    /// <param name="epochs">Epochs in the run.</param>
    /// <returns>The rate for that step.</returns>
    public abstract double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs);

    /// <summary>The rate stays at the peak.</summary>
    public static LearningRateSchedule Constant() => new ConstantSchedule();

    /// <summary>Multiplies the rate by <paramref name="gamma"/> every <paramref name="stepEpochs"/> epochs (PyTorch's StepLR).</summary>
    /// <param name="stepEpochs">Epochs between two reductions.</param>
    /// <param name="gamma">The factor applied at each reduction.</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Step(int stepEpochs, double gamma = 0.1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepEpochs, 1);
        CheckFactor(gamma, nameof(gamma));
        return new MultiStepSchedule(null, stepEpochs, gamma);
    }

    /// <summary>Multiplies the rate by <paramref name="gamma"/> at each epoch in <paramref name="milestoneEpochs"/>
    /// (PyTorch's MultiStepLR; epochs count from 0).</summary>
    /// <param name="milestoneEpochs">The epochs (1 or more) at which the rate is reduced.</param>
    /// <param name="gamma">The factor applied at each milestone.</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule MultiStep(IEnumerable<int> milestoneEpochs, double gamma = 0.1)
    {
        ArgumentNullException.ThrowIfNull(milestoneEpochs);
        var milestones = milestoneEpochs.Order().ToArray();
        if (milestones.Length == 0 || milestones[0] < 1)
            throw new ArgumentException("Give at least one milestone epoch, each 1 or more.", nameof(milestoneEpochs));
        CheckFactor(gamma, nameof(gamma));
        return new MultiStepSchedule(milestones, 0, gamma);
    }

    /// <summary>
    /// Linear warm-up from a tenth of the peak over <paramref name="warmupEpochs"/> (fractions allowed; capped at 10% of
    /// the run), then cosine annealing to <paramref name="minimumFraction"/> × peak at the last step. The default.
    /// </summary>
    /// <param name="warmupEpochs">Epochs of linear warm-up.</param>
    /// <param name="minimumFraction">The final rate as a fraction of the peak, in [0, 1).</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule CosineWithWarmup(double warmupEpochs = 1, double minimumFraction = 0)
    {
        if (!(warmupEpochs >= 0) || !(minimumFraction >= 0 && minimumFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(warmupEpochs), "Warm-up must be 0 or more epochs and the minimum a fraction in [0, 1).");
        return new CosineWithWarmupSchedule(warmupEpochs, minimumFraction);
    }

    /// <summary>
    /// One-cycle (Smith; PyTorch's OneCycleLR with cosine annealing): from peak / <paramref name="initialDivisor"/> up to
    /// the peak over the first <paramref name="warmupFraction"/> of the steps, then down to
    /// peak / (<paramref name="initialDivisor"/> × <paramref name="finalDivisor"/>).
    /// </summary>
    /// <param name="warmupFraction">Share of the steps spent rising to the peak, in (0, 1).</param>
    /// <param name="initialDivisor">The starting rate is the peak divided by this.</param>
    /// <param name="finalDivisor">The final rate is the starting rate divided by this.</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule OneCycle(double warmupFraction = 0.3, double initialDivisor = 25, double finalDivisor = 1e4)
    {
        if (!(warmupFraction > 0 && warmupFraction < 1) || !(initialDivisor >= 1) || !(finalDivisor >= 1))
            throw new ArgumentOutOfRangeException(nameof(warmupFraction), "One-cycle needs 0 < warmupFraction < 1 and divisors of at least 1.");
        return new OneCycleSchedule(warmupFraction, initialDivisor, finalDivisor);
    }

    /// <summary>
    /// A triangle (airbench's schedule): linear from <paramref name="startFraction"/> × peak at the first step up to the
    /// peak at step round(<paramref name="peakFraction"/> × total steps), then linear down to
    /// <paramref name="endFraction"/> × peak at the last step. Short, fast runs (a few epochs with Nesterov SGD) reach
    /// their best accuracy with it.
    /// </summary>
    /// <param name="peakFraction">Where the peak lies, as a share of the run's steps, in [0, 1].</param>
    /// <param name="startFraction">The first step's rate as a fraction of the peak, in [0, 1].</param>
    /// <param name="endFraction">The last step's rate as a fraction of the peak, in [0, 1].</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule Triangle(double peakFraction = 0.23, double startFraction = 0.2, double endFraction = 0.07)
    {
        if (!(peakFraction >= 0 && peakFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(peakFraction), peakFraction, "The peak's position must be a share of the run in [0, 1].");
        if (!(startFraction >= 0 && startFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(startFraction), startFraction,
                "The starting rate must be a fraction of the peak in [0, 1].");
        if (!(endFraction >= 0 && endFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(endFraction), endFraction, "The final rate must be a fraction of the peak in [0, 1].");
        return new TriangleSchedule(peakFraction, startFraction, endFraction);
    }

    /// <summary>
    /// Multiplies the rate by <paramref name="factor"/> when the monitored metric (validation loss when there is
    /// validation data, else training loss) has not improved by more than <paramref name="threshold"/> (relative) for
    /// <paramref name="patience"/> epochs, never going below <paramref name="minimumLearningRate"/> (PyTorch's ReduceLROnPlateau).
    /// </summary>
    /// <param name="factor">The factor applied on a plateau, in (0, 1).</param>
    /// <param name="patience">Epochs without improvement before the rate is reduced.</param>
    /// <param name="threshold">The relative improvement that counts.</param>
    /// <param name="minimumLearningRate">The rate never goes below this.</param>
    /// <returns>The schedule.</returns>
    public static LearningRateSchedule ReduceOnPlateau(double factor = 0.1, int patience = 5, double threshold = 1e-4, double minimumLearningRate = 0)
    {
        CheckFactor(factor, nameof(factor));
        ArgumentOutOfRangeException.ThrowIfNegative(patience);
        ArgumentOutOfRangeException.ThrowIfNegative(threshold);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLearningRate);
        return new ReduceOnPlateauSchedule(factor, patience, threshold, minimumLearningRate);
    }

    private static void CheckFactor(double factor, string name)
    {
        if (!(factor > 0 && factor <= 1))
            throw new ArgumentOutOfRangeException(name, factor, "The factor must be in (0, 1].");
    }

    private sealed class ConstantSchedule : LearningRateSchedule
    {
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs) => peak;

        public override string ToString() => "constant";
    }

    private sealed class MultiStepSchedule(int[]? milestones, int stepEpochs, double gamma) : LearningRateSchedule
    {
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs)
        {
            long epoch = step / stepsPerEpoch;
            int decays = milestones is null ? (int)(epoch / stepEpochs) : milestones.Count(m => m <= epoch);
            return peak * Math.Pow(gamma, decays);
        }

        public override string ToString() => milestones is null ? $"step (×{gamma} every {stepEpochs} epochs)"
            : $"multi-step (×{gamma} at epochs {string.Join(", ", milestones)})";
    }

    private sealed class CosineWithWarmupSchedule(double warmupEpochs, double minimumFraction) : LearningRateSchedule
    {
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs)
        {
            long total = (long)stepsPerEpoch * epochs;
            long warmup = (long)Math.Min(Math.Round(warmupEpochs * stepsPerEpoch), total / 10);
            if (step < warmup)
                return peak * (0.1 + 0.9 * step / warmup);
            double progress = Math.Min(1, (double)(step - warmup) / Math.Max(1, total - 1 - warmup));
            double minimum = peak * minimumFraction;
            return minimum + (peak - minimum) * 0.5 * (1 + Math.Cos(Math.PI * progress));
        }

        public override string ToString() => $"cosine with {warmupEpochs} warm-up epochs";
    }

    private sealed class OneCycleSchedule(double warmupFraction, double initialDivisor, double finalDivisor) : LearningRateSchedule
    {
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs)
        {
            long total = (long)stepsPerEpoch * epochs;
            double start = peak / initialDivisor, end = start / finalDivisor;
            double rising = warmupFraction * total - 1;
            if (step <= rising)
                return Anneal(start, peak, rising <= 0 ? 1 : step / rising);
            return Anneal(peak, end, Math.Min(1, (step - rising) / Math.Max(1, total - 1 - rising)));
        }

        private static double Anneal(double from, double to, double progress) => to + (from - to) * 0.5 * (1 + Math.Cos(Math.PI * progress));

        public override string ToString() => $"one-cycle ({warmupFraction:P0} rising)";
    }

    private sealed class TriangleSchedule(double peakFraction, double startFraction, double endFraction) : LearningRateSchedule
    {
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs)
        {
            long last = Math.Max(0, (long)stepsPerEpoch * epochs - 1);
            long peakStep = Math.Min(last, (long)Math.Round(peakFraction * (last + 1)));
            step = Math.Clamp(step, 0, last);
            if (step <= peakStep)
                return peak * (peakStep == 0 ? 1 : startFraction + (1 - startFraction) * step / peakStep);
            return peak * (1 + (endFraction - 1) * (step - peakStep) / (last - peakStep));
        }

        public override string ToString() => $"triangle ({startFraction:R} → 1 at {peakFraction:R} of the run → {endFraction:R})";
    }

    internal sealed class ReduceOnPlateauSchedule(double factor, int patience, double threshold, double minimumLearningRate) : LearningRateSchedule
    {
        public double Factor => factor;

        public int Patience => patience;

        public double Threshold => threshold;

        public double MinimumLearningRate => minimumLearningRate;

        // The reductions so far are applied by the training loop (they depend on the metric, not on the step).
        public override double GetLearningRate(double peak, long step, int stepsPerEpoch, int epochs) => peak;

        public override string ToString() => $"reduce on plateau (×{factor} after {patience} epochs without improvement)";
    }
}
