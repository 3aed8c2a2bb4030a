using MlNetCnn;
using Spectre.Console;

namespace MlNetCnn.Examples;

/// <summary>
/// Shows CnnTrainer's progress in the console: a live Spectre progress bar over the whole run on an interactive
/// terminal, described by the library's <see cref="TrainingProgress.ToString"/>; elsewhere the library's
/// <see cref="ConsoleTrainingProgress"/> (a line per epoch when the output is redirected). Shared by the examples.
/// </summary>
internal static class TrainingConsole
{
    /// <summary>Runs <paramref name="train"/> with a progress reporter for <see cref="CnnTrainerOptions.Progress"/>.</summary>
    public static T Run<T>(string title, Func<IProgress<TrainingProgress>, T> train)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return train(new ConsoleTrainingProgress());
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title));
                result = train(new BarReporter(task));
                task.Value = task.MaxValue;
            });
        return result;
    }

    private sealed class BarReporter(ProgressTask task) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            task.MaxValue = (double)value.TotalEpochs * value.BatchesPerEpoch;
            task.Value = (double)(value.Epoch - 1) * value.BatchesPerEpoch + value.Batch;
            task.Description = Markup.Escape(value.ToString());
            if (value.IsEpochEnd)
                AnsiConsole.MarkupLine(Markup.Escape($"  {value}"));
        }
    }
}
