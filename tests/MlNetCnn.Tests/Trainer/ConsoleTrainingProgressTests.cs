namespace MlNetCnn.Tests;

public sealed class ConsoleTrainingProgressTests
{
    private static readonly EpochSummary s_epoch2 = new(2, 0.43216, 0.875, 0.50123, 0.851, 2.5e-3, TimeSpan.FromSeconds(12.34), 1234.4);

    private static TrainingProgress MidEpoch(int batch) => new(2, 10, batch, 469, 0.4321, 0.875, 2.5e-3, 1234.4, TimeSpan.FromSeconds(42), null);

    private static TrainingProgress EpochEnd(int epoch, int total, EpochSummary summary)
        => new(epoch, total, 469, 469, summary.TrainLoss, summary.TrainAccuracy,
        summary.LearningRate, summary.ImagesPerSecond, TimeSpan.FromSeconds(3725), summary);

    [Fact]
    public void ToStringIsOneReadableLine()
    {
        Assert.Equal("epoch 2/10, batch 120/469: loss 0.4321, accuracy 87.50%, 1,234 images/s, lr 2.5e-3, ETA 0:42", MidEpoch(120).ToString());
        Assert.Equal("epoch 2: loss 0.4322, accuracy 87.50%, validation loss 0.5012, validation accuracy 85.10%, lr "
            + "2.5e-3, 12.3 s, 1,234 images/s", s_epoch2.ToString());
        Assert.Equal("epoch 2/10: loss 0.4322, accuracy 87.50%, validation loss 0.5012, validation accuracy 85.10%, lr "
            + "2.5e-3, 12.3 s, 1,234 images/s",
            EpochEnd(2, 10, s_epoch2).ToString());
        var noValidation = s_epoch2 with { ValidationLoss = null, ValidationAccuracy = null };
        Assert.Equal("epoch 2: loss 0.4322, accuracy 87.50%, lr 2.5e-3, 12.3 s, 1,234 images/s", noValidation.ToString());
    }

    [Fact]
    public void OnATerminalTheEpochLineIsRedrawnInPlaceAndEndsWithTheEpochsFigures()
    {
        var output = new StringWriter();
        var progress = new ConsoleTrainingProgress(output, redrawInPlace: true);

        progress.Report(MidEpoch(120));
        progress.Report(MidEpoch(469 - 9));
        progress.Report(EpochEnd(2, 10, s_epoch2));

        string[] draws = output.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, draws.Length);
        Assert.Equal("Epoch 2/10 [=======>......................] 120/469  loss 0.4321, accuracy 87.50%, 1,234 "
            + "images/s, lr 2.5e-3, ETA 0:42", draws[0]);
        Assert.StartsWith("Epoch 2/10 [=============================>] 460/469  ", draws[1]);
        Assert.Equal("Epoch 2/10 [==============================] 469/469  loss 0.4322, accuracy 87.50%, validation " +
                     "loss 0.5012, validation accuracy 85.10%, " +
                     "lr 2.5e-3, 12.3 s, 1,234 images/s, ETA 1:02:05" + Environment.NewLine, draws[2]);
        Assert.DoesNotContain('\n', draws[0] + draws[1]);
    }

    [Fact]
    public void AShorterRedrawWipesTheRestOfTheLongerLineAndLongLinesAreCutToTheWidth()
    {
        var output = new StringWriter();
        var progress = new ConsoleTrainingProgress(output, redrawInPlace: true, maximumLineWidth: 60);

        progress.Report(MidEpoch(120));
        progress.Report(MidEpoch(121) with { ImagesPerSecond = 5 });

        string[] draws = output.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(60, draws[0].Length);
        Assert.EndsWith("…", draws[0]);
        Assert.Equal(60, draws[1].Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsoleTrainingProgress(output, true, maximumLineWidth: 5));
    }

    [Fact]
    public void RedirectedOutputGetsALinePerEpochWithoutCarriageReturns()
    {
        var output = new StringWriter();
        var progress = new ConsoleTrainingProgress(output, redrawInPlace: false);

        progress.Report(MidEpoch(120));
        progress.Report(EpochEnd(2, 3, s_epoch2));
        progress.Report(MidEpoch(120) with { Epoch = 3, TotalEpochs = 3 });
        progress.Report(EpochEnd(3, 3, s_epoch2 with { Epoch = 3, ValidationLoss = null, ValidationAccuracy = null }));

        Assert.DoesNotContain('\r', output.ToString());
        Assert.Equal(
            [
                "Epoch 2/3: loss 0.4322, accuracy 87.50%, validation loss 0.5012, validation accuracy 85.10%, lr "
                + "2.5e-3, 12.3 s, 1,234 images/s, ETA 1:02:05",
                "Epoch 3/3: loss 0.4322, accuracy 87.50%, lr 2.5e-3, 12.3 s, 1,234 images/s",
            ],
            output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }
}
