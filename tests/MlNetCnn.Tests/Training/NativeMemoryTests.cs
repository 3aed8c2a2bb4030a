using System.Diagnostics;
using Microsoft.ML;

namespace MlNetCnn.Tests;

// Resident memory is per process: no other test may allocate while this one measures.
[Collection(nameof(NativeMemoryTests))]
public sealed class NativeMemoryTests
{
    [Theory]
    [InlineData(TrainingPrecision.Float32)]
    [InlineData(TrainingPrecision.MixedBFloat16)] // also copies weights, statistics and gradients every step
    public void ResidentMemoryStaysFlatAcrossEpochs(TrainingPrecision precision)
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(1200, 10, seed: 4));

        var residentAfterEpoch = new List<long>();
        var options = new CnnTrainerOptions
        {
            Epochs = 8, BatchSize = 16, Precision = precision,
            Progress = new SynchronousProgress<TrainingProgress>(progress =>
            {
                if (!progress.IsEpochEnd)
                    return;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                using var self = Process.GetCurrentProcess();
                residentAfterEpoch.Add(self.WorkingSet64);
            }),
        };
        using var model = new CnnTrainer(ml, options).Fit(data);

        // 75 steps per epoch: leaking even one activation tensor per step would add tens of MB per epoch.
        long growth = residentAfterEpoch[^1] - residentAfterEpoch[2];
        Assert.True(growth < 24L << 20,
            $"resident memory grew {growth >> 20} MB from epoch 3 to 8: "
            + $"{string.Join(", ", residentAfterEpoch.Select(r => r >> 20))} MB");
    }
}

[CollectionDefinition(nameof(NativeMemoryTests), DisableParallelization = true)]
public sealed class NativeMemoryTestsCollection;
