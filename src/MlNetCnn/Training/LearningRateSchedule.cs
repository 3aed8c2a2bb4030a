namespace MlNetCnn;

/// <summary>
/// Linear warm-up from a tenth of the peak to the peak over the first 10% of steps (at most one epoch), then cosine
/// decay to zero: trains well with Adam at the default rate and no tuning.
/// </summary>
internal sealed class WarmupCosineSchedule(double peak, long totalSteps, long stepsPerEpoch)
{
    private readonly long _warmupSteps = Math.Max(1, Math.Min(stepsPerEpoch, totalSteps / 10));

    /// <summary>The learning rate for optimization step <paramref name="step"/> (from 0).</summary>
    public double At(long step)
    {
        if (step < _warmupSteps)
            return peak * (0.1 + 0.9 * step / _warmupSteps);
        double progress = (double)(step - _warmupSteps) / Math.Max(1, totalSteps - _warmupSteps);
        return peak * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}
