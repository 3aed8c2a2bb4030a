using Microsoft.ML;
using MlNetCnn.Persistence;

namespace MlNetCnn.Tests;

/// <summary>An image that stops decoding mid-run stops streamed training with its path; the last checkpoint stays usable.</summary>
public sealed class StreamingDecodeErrorTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void AnImageDamagedAfterTheFirstEpochIsNamedAndTheCheckpointSurvives()
    {
        var ml = new MLContext(seed: 1);
        string root = StreamingImageFolder.Create(_temp);
        var data = StreamingImageFolder.Prepare(ml, ImageFolder.Load(ml, root));
        string victim = Directory.GetFiles(Path.Combine(root, SyntheticImages.ClassNames[1])).Order(StringComparer.Ordinal).ElementAt(5);
        var options = StreamingImageFolder.Options(DataCaching.Streaming, epochs: 3);
        options.CheckpointDirectory = _temp.Combine("checkpoints");
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p.IsEpochEnd && p.Epoch == 1)
                File.WriteAllBytes(victim, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]); // a truncated PNG
        });

        var error = Assert.Throws<InvalidDataException>(() => new CnnTrainer(ml, options).Fit(data));
        Assert.Contains(victim, error.Message);
        Assert.Contains("training data", error.Message);

        string last = Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName);
        Assert.Equal(1, TrainingCheckpoint.Load(last).State.CompletedEpochs);
        Assert.Empty(Directory.GetFiles(options.CheckpointDirectory, "*.tmp"));
    }
}
