using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MlNetCnn;

/// <summary>
/// The lines that describe a run before its first epoch (kernels, precision, data, weights loaded): they go to ML.NET's
/// log and, as notes, to <see cref="CnnTrainerOptions.Progress"/>, so a console run shows what it is training with.
/// </summary>
internal sealed class RunNotes(IChannel channel, IProgress<TrainingProgress>? progress)
{
    public IChannel Channel { get; } = channel;

    public void Add(string note)
    {
        Channel.Info(MessageSensitivity.None, $"CnnTrainer: {note}");
        progress?.Report(TrainingProgress.ForNote(note));
    }
}
