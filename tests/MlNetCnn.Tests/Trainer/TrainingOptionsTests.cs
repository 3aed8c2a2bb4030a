using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;

namespace MlNetCnn.Tests;

// Compares seeded runs bit for bit (resume), so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class TrainingOptionsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CnnTrainerOptions Options(int epochs = 3)
        => new() { Epochs = epochs, BatchSize = 16, Seed = 9, NumberOfThreads = 1, ProgressInterval = 1000 };

    private static IDataView Data(MLContext ml, int count = 120, int classes = 3, int seed = 1)
        => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(count, classes, seed));

    private static float[] Weights(CnnTransformer model) => model.Network.Module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void ANonFiniteLossStopsTrainingWithAnExplanation()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(64, 2, 1);
        rows[5].Features[3] = float.NaN; // one bad pixel poisons its batch's loss
        var options = Options(2);
        options.StandardizeInputs = false;
        options.CheckpointDirectory = _temp.Path;
        var error = Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, rows)));
        Assert.Contains("Training diverged", error.Message);
        Assert.Contains("epoch 1, batch", error.Message);
        Assert.Contains("NaN", error.Message);
    }

    [Theory]
    [InlineData(CnnOptimizer.Adam, false)]
    [InlineData(CnnOptimizer.AdamW, false)]
    [InlineData(CnnOptimizer.Sgd, true)]
    [InlineData(CnnOptimizer.Sgd, false)]
    public void EveryOptimizerLowersTheLoss(CnnOptimizer optimizer, bool nesterov)
    {
        var ml = new MLContext(seed: 1);
        var options = Options(4);
        options.Optimizer = optimizer;
        options.Nesterov = nesterov;
        options.WeightDecay = 1e-4;
        options.GradientClipNorm = 5;
        options.LabelSmoothing = 0.1;
        options.LearningRate = optimizer == CnnOptimizer.Sgd ? 0.05 : 3e-3;
        using var model = new CnnTrainer(ml, options).Fit(Data(ml));
        Assert.True(model.TrainingHistory[^1].TrainLoss < model.TrainingHistory[0].TrainLoss,
            string.Join(", ", model.TrainingHistory.Select(e => e.TrainLoss)));
    }

    [Fact]
    public void LearningRatesFollowTheScheduleEpochByEpoch()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(4);
        options.LearningRate = 0.01;
        options.LearningRateSchedule = LearningRateSchedule.Step(1, 0.5);
        using var model = new CnnTrainer(ml, options).Fit(Data(ml));
        Assert.Equal([0.01, 0.005, 0.0025, 0.00125], model.TrainingHistory.Select(e => Math.Round(e.LearningRate, 8)));
    }

    [Theory]
    [InlineData(WeightInitialization.KaimingNormal)]
    [InlineData(WeightInitialization.XavierUniform)]
    public void WeightInitializationFollowsTheLiterature(WeightInitialization initialization)
    {
        using var module = CnnArchitecture.LeNet5.CreateModule(1, 28, 28, 10);
        ModuleWeights.Initialize(module, initialization);
        var state = module.state_dict();
        // classifier.0: Linear(400 -> 120); fan_in 400, fan_out 120.
        var weights = state["classifier.0.weight"].data<float>().ToArray();
        double std = Math.Sqrt(weights.Select(w => (double)w * w).Average());
        if (initialization == WeightInitialization.KaimingNormal)
            Assert.Equal(Math.Sqrt(2.0 / 120), std, 2);
        else
            Assert.All(weights, w => Assert.InRange(w, -Math.Sqrt(6.0 / 520), Math.Sqrt(6.0 / 520)));
        Assert.All(state["classifier.0.bias"].data<float>().ToArray(), b => Assert.Equal(0f, b));
    }

    [Fact]
    public void ValidationFractionSplitsEveryClassAndIsReported()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(2);
        options.ValidationFraction = 0.25;
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        using var model = new CnnTrainer(ml, options).Fit(Data(ml, count: 120));
        Assert.All(model.TrainingHistory, e => Assert.NotNull(e.ValidationAccuracy));
        Assert.Contains(messages,
            m => m.Contains("90 training images", StringComparison.Ordinal)
            && m.Contains("30 validation images", StringComparison.Ordinal));
    }

    [Fact]
    public void EarlyStoppingStopsAndRestoresTheBestEpoch()
    {
        var ml = new MLContext(seed: 1);
        var trainRows = SyntheticTensors.Rows(150, 3, 1);
        // Validation labels are random: once the network fits the training data, validation loss only gets worse.
        var validationRows = SyntheticTensors.Rows(60, 3, 2, shuffleLabels: true);
        var train = SyntheticTensors.Keyed(ml, trainRows);
        var validation = SyntheticTensors.Keyed(ml, validationRows, keySource: trainRows);
        var options = Options(30);
        options.LearningRateSchedule = LearningRateSchedule.Constant();
        options.ValidationData = validation;
        options.EarlyStopping = new EarlyStoppingOptions { Metric = TrainingMetric.ValidationLoss, Patience = 2 };

        using var model = new CnnTrainer(ml, options).Fit(train);

        var history = model.TrainingHistory;
        Assert.True(history.Count < 30, $"ran all {history.Count} epochs");
        var best = history.MinBy(e => e.ValidationLoss)!;
        Assert.Equal(best.Epoch + 2, history[^1].Epoch);
        // The returned weights are the best epoch's: scoring the validation data reproduces its loss.
        var scores = ml.Data.CreateEnumerable<ScoredRow>(model.Transform(validation), reuseRowObject: false).ToList();
        double loss = scores.Average(s => -Math.Log(s.Score[(int)s.Label - 1]));
        Assert.Equal(best.ValidationLoss!.Value, loss, 3);
    }

    [Fact]
    public void EarlyStoppingOnAValidationMetricNeedsValidationData()
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        options.EarlyStopping = new EarlyStoppingOptions();
        var error = Assert.Throws<ArgumentException>(() => new CnnTrainer(ml, options).Fit(Data(ml)));
        Assert.Contains("ValidationFraction", error.Message);
    }

    [Theory]
    [InlineData(DataCaching.InMemory)]
    [InlineData(DataCaching.Streaming)]
    public void InterruptedAndResumedTrainingEqualsAnUninterruptedRun(DataCaching caching)
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        CnnTrainerOptions Options(int epochs)
        {
            var options = TrainingOptionsTests.Options(epochs);
            options.DataCaching = caching;
            return options;
        }
        var uninterruptedOptions = Options(4);
        uninterruptedOptions.CheckpointDirectory = _temp.Combine("uninterrupted");
        using var uninterrupted = new CnnTrainer(ml, uninterruptedOptions).Fit(data);

        // Cancel during epoch 3: the checkpoint of epoch 2 stays, and Fit throws.
        using var cancellation = new CancellationTokenSource();
        var interruptedOptions = Options(4);
        interruptedOptions.CheckpointDirectory = _temp.Combine("interrupted");
        interruptedOptions.ProgressInterval = 2;
        interruptedOptions.CancellationToken = cancellation.Token;
        interruptedOptions.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p.Epoch == 3 && !p.IsEpochEnd)
                cancellation.Cancel();
        });
        Assert.Throws<OperationCanceledException>(() => new CnnTrainer(ml, interruptedOptions).Fit(data));
        string checkpointPath = Path.Combine(interruptedOptions.CheckpointDirectory, TrainingLoop.LastCheckpointName);
        var checkpoint = TrainingCheckpoint.Load(checkpointPath);
        Assert.Equal(2, checkpoint.State.CompletedEpochs);
        Assert.Empty(Directory.GetFiles(interruptedOptions.CheckpointDirectory, "*.tmp"));

        var resumedOptions = Options(4);
        resumedOptions.ResumeFromCheckpoint = checkpointPath;
        using var resumed = new CnnTrainer(ml, resumedOptions).Fit(data);

        Assert.Equal(Weights(uninterrupted), Weights(resumed));
        Assert.Equal(uninterrupted.TrainingHistory.Select(e => e.TrainLoss), resumed.TrainingHistory.Select(e => e.TrainLoss));
    }

    [Fact]
    public void ResumingWithDifferentOptionsOrADamagedCheckpointIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var options = Options(2);
        options.CheckpointDirectory = _temp.Combine("run");
        using (new CnnTrainer(ml, options).Fit(data))
        {
        }
        string path = Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName);

        var other = Options(2);
        other.BatchSize = 32;
        other.ResumeFromCheckpoint = path;
        var mismatch = Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, other).Fit(data));
        Assert.Contains("batch=32", mismatch.Message);

        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x55;
        File.WriteAllBytes(path, bytes);
        var damaged = Options(2);
        damaged.ResumeFromCheckpoint = path;
        var error = Assert.Throws<InvalidDataException>(() => new CnnTrainer(ml, damaged).Fit(data));
        Assert.Contains("checksum", error.Message);
    }

    [Fact]
    public void BestCheckpointIsWrittenAtTheBestEpoch()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(3);
        options.CheckpointDirectory = _temp.Combine("best");
        using var model = new CnnTrainer(ml, options).Fit(Data(ml));
        var best = TrainingCheckpoint.Load(Path.Combine(options.CheckpointDirectory, TrainingLoop.BestCheckpointName));
        var lowest = model.TrainingHistory.MinBy(e => e.TrainLoss)!;
        Assert.Equal(lowest.Epoch, best.State.CompletedEpochs);
    }

    [Fact]
    public void FineTuningCopiesTheFeatureLayersFreezesThemAndTrainsANewHead()
    {
        var ml = new MLContext(seed: 1);
        using var pretrained = new CnnTrainer(ml, Options(2)).Fit(Data(ml, classes: 3));
        var options = Options(2);
        options.InitialModel = pretrained;
        options.FreezeCopiedLayers = true;
        using var tuned = new CnnTrainer(ml, options).Fit(Data(ml, classes: 4, seed: 5));

        var before = pretrained.Network.Module.state_dict();
        var after = tuned.Network.Module.state_dict();
        Assert.Equal(before["features.0.weight"].data<float>().ToArray(), after["features.0.weight"].data<float>().ToArray());
        Assert.Equal(before["classifier.2.weight"].data<float>().ToArray(), after["classifier.2.weight"].data<float>().ToArray());
        Assert.Equal(4, tuned.ClassCount);
        Assert.Equal([4L, 84L], after["classifier.4.weight"].shape);
        Assert.Equal(pretrained.InputMean, tuned.InputMean);
        Assert.True(tuned.TrainingHistory[^1].TrainLoss < tuned.TrainingHistory[0].TrainLoss);
    }

    [Fact]
    public void EmbeddingsFeedAnotherMlNetTrainerAndSurviveSaveAndLoad()
    {
        var ml = new MLContext(seed: 1);
        var data = Data(ml);
        var options = Options(2);
        options.EmbeddingColumnName = "Embedding";
        var pipeline = new CnnTrainer(ml, options)
            .Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(labelColumnName: "Label",
                featureColumnName: "Embedding"), TransformerScope.Everything);
        var model = pipeline.Fit(data);
        var cnn = model.OfType<CnnTransformer>().Single();
        Assert.Equal(84, cnn.EmbeddingSize);
        var embeddingType = Assert.IsType<VectorDataViewType>(model.GetOutputSchema(data.Schema)["Embedding"].Type);
        Assert.Equal(84, embeddingType.Size);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
        Assert.True(metrics.MicroAccuracy > 0.8, $"SDCA on CNN embeddings: {metrics.MicroAccuracy}");

        string path = _temp.Combine("embedding.zip");
        ml.Model.Save(cnn, data.Schema, path);
        using var loaded = (CnnTransformer)new MLContext().Model.Load(path, out _);
        var original = ml.Data.CreateEnumerable<EmbeddingRow>(cnn.Transform(data), reuseRowObject: false).Select(r => r.Embedding).ToList();
        var reloaded = ml.Data.CreateEnumerable<EmbeddingRow>(loaded.Transform(data), reuseRowObject: false).Select(r => r.Embedding).ToList();
        Assert.Equal(original, reloaded);
        var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, EmbeddingRow>(loaded, inputSchemaDefinition: null);
        Assert.Equal(original[0], engine.Predict(SyntheticTensors.Rows(1, 3, 1)[0]).Embedding, new FloatTolerance(1e-4f));
    }

    [Fact]
    public void CudaOnTheCpuBackendNamesTheBuildSwitch()
    {
        var ml = new MLContext(seed: 1);
        var options = Options(1);
        options.Device = CnnDevice.Cuda();
        var error = Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, options).Fit(Data(ml)));
        Assert.Contains("-p:TorchBackend=cuda-linux", error.Message);
    }

    private sealed class ScoredRow
    {
        public uint Label { get; set; }

        public float[] Score { get; set; } = [];
    }

    private sealed class EmbeddingRow
    {
        public float[] Embedding { get; set; } = [];
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
