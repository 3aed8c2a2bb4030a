namespace MlNetCnn;

/// <summary>
/// Plans how many epochs fit in <see cref="CnnTrainerOptions.TimeLimit"/>, counted from the start of <c>Fit</c>: first
/// from the speed of the first training steps (so the first epoch already follows the schedule of the planned run),
/// then from the measured epochs (training, validation and checkpoints). The plan after the run's first epoch may
/// rise or fall; later ones only fall, so a slower stretch shortens the run and a faster one never lengthens the
/// schedule late in its decay (a resumed run keeps its checkpoint's plan or shortens it).
/// </summary>
internal sealed class EpochBudget(TimeSpan limit, Func<TimeSpan> elapsed, int maximumEpochs)
{
    private double _measuredSeconds;
    private int _measuredEpochs;

    public TimeSpan Limit => limit;

    /// <summary>The epochs that fit when <paramref name="doneEpochs"/> (possibly fractional) are done and each further
    /// epoch takes <paramref name="epochSeconds"/>.</summary>
    public int Plan(double doneEpochs, double epochSeconds)
    {
        double left = (limit - elapsed()).TotalSeconds;
        double fitting = left > 0 && epochSeconds > 0 ? Math.Floor(doneEpochs + left / epochSeconds) : 0;
        int atLeast = Math.Max(1, (int)Math.Ceiling(doneEpochs));
        return (int)Math.Clamp(fitting, atLeast, Math.Max(atLeast, maximumEpochs));
    }

    /// <summary>Re-plans after an epoch of <paramref name="epochSeconds"/> from the mean of this run's epochs; only the
    /// first epoch may raise <paramref name="currentPlan"/>.</summary>
    public int PlanAfterEpoch(int completedEpochs, double epochSeconds, int currentPlan)
    {
        _measuredSeconds += epochSeconds;
        _measuredEpochs++;
        int plan = Plan(completedEpochs, _measuredSeconds / _measuredEpochs);
        return completedEpochs == 1 ? plan : Math.Min(plan, currentPlan);
    }
}
