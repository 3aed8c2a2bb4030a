using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class NativeMemoryTests
{
    private sealed class Digit
    {
        [VectorType(1, 28, 28)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    [Fact]
    public void ResidentMemoryStaysFlatAcrossEpochs()
    {
        var random = new Random(4);
        var rows = Enumerable.Range(0, 1200).Select(i =>
        {
            var pixels = new float[784];
            for (int p = 0; p < pixels.Length; p++)
                pixels[p] = (float)random.NextDouble() * (p % 10 == i % 10 ? 1f : 0.2f);
            return new Digit { Features = pixels, Label = (i % 10).ToString() };
        }).ToList();
        var ml = new MLContext(seed: 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));

        var residentAfterEpoch = new List<long>();
        var options = new CnnTrainerOptions
        {
            Epochs = 8, BatchSize = 16,
            Progress = new SynchronousProgress<TrainingProgress>(_ =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                using var self = Process.GetCurrentProcess();
                residentAfterEpoch.Add(self.WorkingSet64);
            }),
        };
        using var model = new CnnTrainer(ml, options).Fit(data);

        // 75 steps per epoch: leaking even one activation tensor per step would add tens of MB per epoch.
        long growth = residentAfterEpoch[^1] - residentAfterEpoch[2];
        Assert.True(growth < 24L << 20, $"resident memory grew {growth >> 20} MB from epoch 3 to 8: {string.Join(", ", residentAfterEpoch.Select(r => r >> 20))} MB");
    }
}
