namespace MlNetCnn;

/// <summary>Everything about a run's progress that a checkpoint must carry for a resumed run to continue exactly.</summary>
internal sealed class TrainingState
{
    public int CompletedEpochs { get; set; }

    /// <summary>Optimization steps taken so far (the schedule's position).</summary>
    public long Step { get; set; }

    public List<EpochSummary> History { get; } = [];

    /// <summary>The epochs <see cref="CnnTrainerOptions.TimeLimit"/> planned; 0 before a plan (all <see cref="CnnTrainerOptions.Epochs"/>).</summary>
    public int PlannedEpochs { get; set; }

    /// <summary>Product of the reductions a plateau schedule has applied.</summary>
    public double PlateauScale { get; set; } = 1;

    public double PlateauBest { get; set; } = double.NaN;

    public int PlateauBadEpochs { get; set; }

    /// <summary>Best value so far of the watched metric (early stopping or best checkpoint).</summary>
    public double BestMetric { get; set; } = double.NaN;

    public int BestEpoch { get; set; }

    public int EpochsWithoutImprovement { get; set; }

    public void Write(BinaryWriter writer)
    {
        writer.Write(CompletedEpochs);
        writer.Write(Step);
        writer.Write(PlateauScale);
        writer.Write(PlateauBest);
        writer.Write(PlateauBadEpochs);
        writer.Write(BestMetric);
        writer.Write(BestEpoch);
        writer.Write(EpochsWithoutImprovement);
        EpochSummary.WriteAll(writer, History);
        writer.Write(PlannedEpochs);
    }

    /// <summary>Reads a state written by checkpoint format <paramref name="version"/> (1 had no plan).</summary>
    public static TrainingState Read(BinaryReader reader, int version)
    {
        var state = new TrainingState
        {
            CompletedEpochs = reader.ReadInt32(),
            Step = reader.ReadInt64(),
            PlateauScale = reader.ReadDouble(),
            PlateauBest = reader.ReadDouble(),
            PlateauBadEpochs = reader.ReadInt32(),
            BestMetric = reader.ReadDouble(),
            BestEpoch = reader.ReadInt32(),
            EpochsWithoutImprovement = reader.ReadInt32(),
        };
        state.History.AddRange(EpochSummary.ReadAll(reader));
        state.PlannedEpochs = version >= 2 ? reader.ReadInt32() : 0;
        // A resumed run indexes its schedule, plateau and early stopping with these: each must be one a run can reach.
        if (state.CompletedEpochs < 0 || state.Step < 0 || state.History.Count != state.CompletedEpochs
            || state.BestEpoch < 0 || state.BestEpoch > state.CompletedEpochs || state.PlateauBadEpochs < 0 || state.EpochsWithoutImprovement < 0
            || !(state.PlateauScale > 0 && state.PlateauScale <= 1) || (state.PlannedEpochs != 0 && state.PlannedEpochs < state.CompletedEpochs))
            throw new InvalidDataException($"the training state is inconsistent (epochs {state.CompletedEpochs}, step "
                + $"{state.Step}, history {state.History.Count}, best epoch {state.BestEpoch}, plateau scale "
                + $"{state.PlateauScale}, planned epochs {state.PlannedEpochs}).");
        return state;
    }
}
