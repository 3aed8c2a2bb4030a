using Microsoft.ML;
using MlNetCnn.Persistence;

namespace MlNetCnn.Tests;

/// <summary>
/// Checkpoints whose fields were forged with a valid checksum: each is refused with an <see cref="InvalidDataException"/>
/// naming the file before TorchSharp or libtorch sees it (a random state libtorch rejects aborts the process).
/// </summary>
public sealed class ForgedCheckpointTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CnnTrainerOptions Options(CnnOptimizer optimizer = CnnOptimizer.Adam, int epochs = 2) => new()
    {
        Epochs = epochs, BatchSize = 16, Seed = 4, NumberOfThreads = 1, Optimizer = optimizer, Momentum = 0.9,
    };

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1));

    /// <summary>Trains a run with checkpoints and returns its last checkpoint's path (resuming it restores everything and trains no more).</summary>
    private string Train(MLContext ml, CnnOptimizer optimizer = CnnOptimizer.Adam)
    {
        var options = Options(optimizer);
        options.CheckpointDirectory = _temp.Combine(Guid.NewGuid().ToString("N"));
        using (new CnnTrainer(ml, options).Fit(Data(ml)))
        {
        }
        return Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName);
    }

    /// <summary>Rewrites the checkpoint with one field replaced (Save recomputes the checksum, as a forger would).</summary>
    private static void Forge(string path, byte[]? weights = null, byte[]? optimizerState = null, byte[]? randomState = null,
        float[]? mean = null, Action<TrainingState>? state = null)
    {
        var original = TrainingCheckpoint.Load(path);
        state?.Invoke(original.State);
        new TrainingCheckpoint
        {
            Fingerprint = original.Fingerprint,
            Mean = mean ?? original.Mean,
            Std = mean is null ? original.Std : mean.Select(_ => 1f).ToArray(),
            State = original.State,
            Weights = weights ?? original.Weights,
            OptimizerState = optimizerState ?? original.OptimizerState,
            RandomState = randomState ?? original.RandomState,
        }.Save(path);
    }

    /// <summary>Resumes the run that wrote <paramref name="path"/> and expects a refusal naming the file.</summary>
    private static InvalidDataException ResumeFails(MLContext ml, string path, CnnOptimizer optimizer = CnnOptimizer.Adam)
    {
        var options = Options(optimizer);
        options.ResumeFromCheckpoint = path;
        var error = Assert.Throws<InvalidDataException>(() => new CnnTrainer(ml, options).Fit(Data(ml)));
        Assert.Contains(path, error.Message);
        return error;
    }

    [Fact]
    public void ARandomStateOfTheWrongSizeIsRefusedBeforeLibtorchAbortsOnIt()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        Forge(path, randomState: new byte[100]);

        Assert.Contains("random generator state has 100 bytes", ResumeFails(ml, path).Message);
    }

    [Fact]
    public void ARandomStateOfTheRightSizeThatLibtorchWouldRejectIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        var state = (byte[])TrainingCheckpoint.Load(path).RandomState.Clone();
        BitConverter.GetBytes(100_000L).CopyTo(state, 16); // mt19937's position, far beyond its 624 words

        Forge(path, randomState: state);

        Assert.Contains("random generator state is invalid", ResumeFails(ml, path).Message);
    }

    [Fact]
    public void AForgedTensorRankInTheOptimizerStateIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        // Adam's layout: name, LEB128 group and state counts, one group (6 doubles, 2 flags), then per parameter a
        // step count and two tensors; the first tensor's rank is forged to 2^40.
        using var forged = new MemoryStream();
        using (var writer = new BinaryWriter(forged))
        {
            writer.Write("Adam");
            writer.Write((byte)1);
            writer.Write((byte)10);
            for (int i = 0; i < 6; i++)
                writer.Write(0.001);
            writer.Write(false);
            writer.Write(false);
            writer.Write(1L);
            writer.Write((byte)6); // Float32
            writer.Write([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        }
        Forge(path, optimizerState: forged.ToArray());

        var error = ResumeFails(ml, path);
        Assert.Contains("optimizer state", error.Message);
        Assert.Contains("claims 1099511627776 dimensions", error.Message);
    }

    [Fact]
    public void AnOptimizerStateOfAnotherOptimizerIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        Forge(path, optimizerState: TrainingCheckpoint.Load(Train(ml, CnnOptimizer.Sgd)).OptimizerState);

        Assert.Contains("the optimizer state is of SGD; this run uses Adam", ResumeFails(ml, path).Message);
    }

    [Fact]
    public void WeightsOfAnotherNetworkAreRefusedWithTheTensorNamed()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        var options = Options();
        options.Architecture = CnnArchitecture.Mlp(8);
        options.CheckpointDirectory = _temp.Combine("mlp");
        using (new CnnTrainer(ml, options).Fit(Data(ml)))
        {
        }
        Forge(path, weights: TrainingCheckpoint.Load(Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName)).Weights);

        Assert.Contains("weights do not fit this run", ResumeFails(ml, path).Message);
    }

    [Fact]
    public void AStandardizationOfAnotherChannelCountIsRefused()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        Forge(path, mean: [0.5f, 0.5f, 0.5f]);

        Assert.Contains("standardization has 3 channels; the data has 1", ResumeFails(ml, path).Message);
    }

    // Both after the 2 epochs the run completed: the best epoch 7, or a time limit's plan of 1 epoch.
    [Theory]
    [InlineData("best epoch 7")]
    [InlineData("planned epochs 1")]
    public void AnInconsistentTrainingStateIsRefused(string forged)
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        Forge(path, state: s => (s.BestEpoch, s.PlannedEpochs) = forged == "best epoch 7" ? (7, 0) : (s.BestEpoch, 1));

        var error = ResumeFails(ml, path);
        Assert.Contains("training state is inconsistent", error.Message);
        Assert.Contains(forged, error.Message);
    }

    [Fact]
    public void APlanInARunWithoutATimeLimitIsRefused()
    {
        // The fingerprint carries the time limit, so only a forger gives this run's checkpoint a plan (here of 1,000,000 epochs).
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        Forge(path, state: s => s.PlannedEpochs = 1_000_000);

        Assert.Contains("its time limit planned 1000000 epochs, but this run has no time limit", ResumeFails(ml, path).Message);
    }

    [Fact]
    public void ACheckpointOfFormat1WithoutATimeLimitsPlanStillResumes()
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml);
        ToFormat1(path);
        var options = Options();
        options.ResumeFromCheckpoint = path;

        using var resumed = new CnnTrainer(ml, options).Fit(Data(ml));

        Assert.Equal(2, resumed.TrainingHistory.Count);
    }

    /// <summary>Rewrites a checkpoint in format 1: the training state without the planned epochs that format 2 appends to it.</summary>
    private static void ToFormat1(string path)
    {
        const int header = 4 + 4 + 8 + 32; // magic, version, length, SHA-256
        byte[] file = File.ReadAllBytes(path);
        byte[] payload = file[header..];
        using var reader = new BinaryReader(new MemoryStream(payload));
        reader.ReadString();
        for (int i = 0; i < 2; i++) // mean, standard deviation
        {
            int count = reader.ReadInt32();
            reader.BaseStream.Position += sizeof(float) * count;
        }
        TrainingState.Read(reader, 2);
        int stateEnd = (int)reader.BaseStream.Position;
        byte[] format1 = [.. payload.AsSpan(0, stateEnd - sizeof(int)), .. payload.AsSpan(stateEnd)];
        using var output = new MemoryStream();
        using (var writer = new BinaryWriter(output))
        {
            writer.Write(file.AsSpan(0, 4));
            writer.Write(1);
            writer.Write((long)format1.Length);
            writer.Write(System.Security.Cryptography.SHA256.HashData(format1));
            writer.Write(format1);
        }
        File.WriteAllBytes(path, output.ToArray());
    }

    [Theory]
    [InlineData(CnnOptimizer.Adam)]
    [InlineData(CnnOptimizer.AdamW)]
    [InlineData(CnnOptimizer.Sgd)]
    public void TheChecksAcceptWhatEveryOptimizerWrites(CnnOptimizer optimizer)
    {
        var ml = new MLContext(seed: 1);
        string path = Train(ml, optimizer);
        var options = Options(optimizer);
        options.ResumeFromCheckpoint = path;

        using var resumed = new CnnTrainer(ml, options).Fit(Data(ml));

        Assert.Equal(2, resumed.TrainingHistory.Count);
    }
}
