using MlNetCnn;

namespace MnistFromFolders;

/// <summary>Prints each epoch as it ends, on the training thread (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value)
    {
        if (value.IsEpochEnd)
            Console.WriteLine($"  [{value.Epoch}/{value.TotalEpochs}] {value.Summary} (about {value.EstimatedTimeRemaining.TotalSeconds:F0} s left)");
    }
}
