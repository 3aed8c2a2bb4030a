using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MlNetCnn;

/// <summary>
/// The lines that describe a run before its first epoch (kernels, precision, data, weights loaded): they go to ML.NET's
/// log and to a progress display that shows notes (<see cref="ConsoleTrainingProgress"/>), so a console run shows what
/// it trains with; other <see cref="IProgress{T}"/> receivers get epoch reports only.
/// </summary>
internal sealed class RunNotes(IChannel channel, IProgress<TrainingProgress>? progress)
{
    public IChannel Channel { get; } = channel;

    /// <summary>The kernel check's verdict: in full in ML.NET's log, in a line on the console.</summary>
    public void AddKernels(Platform.KernelCheck kernels)
    {
        Channel.Info(MessageSensitivity.None, $"CnnTrainer: {kernels}");
        (progress as INoteDisplay)?.ShowNote($"CPU kernels: {kernels.KernelsInUse} (kernel check: {kernels.Outcome})");
    }

    public void Add(string note)
    {
        Channel.Info(MessageSensitivity.None, $"CnnTrainer: {note}");
        (progress as INoteDisplay)?.ShowNote(note);
    }
}

/// <summary>A progress display that also shows the run's set-up notes.</summary>
internal interface INoteDisplay
{
    void ShowNote(string note);
}
