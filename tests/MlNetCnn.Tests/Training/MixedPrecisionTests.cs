using Microsoft.ML;
using MlNetCnn.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// bfloat16 mixed precision (<see cref="CnnTrainerOptions.Precision"/>): the replica computes in bfloat16 with the
/// network's current weights, its gradients and batch-norm statistics reach the float32 network, frozen layers and
/// layer modes carry over, and a run falls back to float32 (bit for bit) where bfloat16 does not apply.
/// </summary>
// Compares seeded runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class MixedPrecisionTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A network for square images of 10 classes and its bfloat16 replica.</summary>
    private sealed class NetworkAndReplica : IDisposable
    {
        public NetworkAndReplica(CnnArchitecture architecture, int channels, int size, List<string>? log = null)
        {
            Network = architecture.CreateModule(channels, size, size, 10);
            Replica = MixedPrecisionReplica.Create(Network, () => architecture.CreateModule(channels, size, size, 10),
                TrainingPrecision.MixedBFloat16,
                architecture, CPU, message => log?.Add(message)) ?? throw new InvalidOperationException($"no replica for {architecture.Name}");
        }

        /// <summary>A ResNet-9 of width 8 on 3×16×16 images.</summary>
        public static NetworkAndReplica ResNet9(List<string>? log = null) => new(CnnArchitecture.ResNet9(8), 3, 16, log);

        public nn.Module<Tensor, Tensor> Network { get; }

        public MixedPrecisionReplica Replica { get; }

        public void Dispose()
        {
            Replica.Dispose();
            Network.Dispose();
        }
    }

    private static IEnumerable<Tensor> RunningMeans(nn.Module module)
        => module.named_buffers().Where(b => b.name.EndsWith("running_mean", StringComparison.Ordinal)).Select(b => b.buffer);

    [Fact]
    public void TheReplicaComputesInBFloat16WithTheNetworksCurrentWeights()
    {
        var log = new List<string>();
        using var pair = NetworkAndReplica.ResNet9(log);
        var (network, replica) = (pair.Network, pair.Replica);
        using var scope = NewDisposeScope();
        var images = randn(8, 3, 16, 16);
        network.eval();
        Tensor expected;
        using (no_grad())
            expected = network.call(images);
        var logits = replica.Forward(images);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        double error = (logits - expected).norm().item<float>() / expected.norm().item<float>();
        // bfloat16 keeps 8 significant bits (relative rounding 2^-9 per value); over nine layers the logits stay within a few percent.
        Assert.InRange(error, 1e-5, 5e-2);
        Assert.Contains(log, m => m.Contains("bfloat16"));

        // A weight changed in the network reaches the next step.
        using (no_grad())
        {
            foreach (var parameter in network.parameters())
                parameter.mul_(0.5);
        }
        Tensor halved;
        using (no_grad())
            halved = network.call(images);
        double afterChange = (replica.Forward(images) - halved).norm().item<float>() / halved.norm().item<float>();
        Assert.InRange(afterChange, 0, 5e-2);
    }

    // At initialization on random images these gradients are sensitive: rounding only the input to bfloat16 (8
    // significant bits), computing in float32, moves them by about a tenth (max-pooling near-ties, the batch statistics
    // of 16 images). The mixed-precision gradients, float32 on the network's parameters, were 1.4 to 3.2 times as far
    // off (seeds 1 to 8), with a cosine of 0.974 or more to the float32 ones.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void GradientsReachTheFloat32NetworkAndAgreeWithFloat32Ones(int seed)
    {
        using var pair = NetworkAndReplica.ResNet9();
        var (network, replica) = (pair.Network, pair.Replica);
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        ChannelsLastInputTests.Reinitialize(network, generator);
        var images = randn([16, 3, 16, 16], generator: generator);
        var labels = randint(0, 10, [16], dtype: ScalarType.Int64, generator: generator);
        network.train();
        Tensor Gradients(Func<Tensor> logits, bool throughReplica)
        {
            network.zero_grad();
            nn.functional.cross_entropy(logits(), labels).backward();
            if (throughReplica)
                replica.CopyGradientsToMaster();
            Assert.All(network.parameters(), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
            return cat(network.parameters().Select(p => p.grad!.flatten()).ToList(), 0);
        }
        var reference = Gradients(() => network.call(images), false);
        var inputRounded = Gradients(() => network.call(images.to(ScalarType.BFloat16).to(ScalarType.Float32)), false);
        var mixed = Gradients(() => replica.Forward(images), true);
        double scale = reference.norm().item<float>();
        double roundingError = (inputRounded - reference).norm().item<float>() / scale, mixedError = (mixed - reference).norm().item<float>() / scale;
        double cosine = (mixed * reference).sum().item<float>() / (mixed.norm().item<float>() * scale);
        Assert.True(mixedError <= 4 * roundingError && cosine >= 0.95,
            $"bfloat16 gradients off by {mixedError:P1} (cosine {cosine:F3}), float32 ones on a bfloat16-rounded input by {roundingError:P1}");
    }

    [Theory]
    [MemberData(nameof(ChannelsLastInputTests.BuiltIns), MemberType = typeof(ChannelsLastInputTests))]
    public void EveryBuiltInNetworkTakesMixedPrecisionStepsThatLowerItsLoss(string name, int channels, int size)
    {
        var architecture = CnnArchitecture.FromName(name);
        // The architecture's own initialization, seeded: this collection runs alone, so no other test draws meanwhile.
        manual_seed(3);
        using var pair = new NetworkAndReplica(architecture, channels, size);
        var (network, replica) = (pair.Network, pair.Replica);
        using var scope = NewDisposeScope();
        var images = randn([8, channels, size, size], generator: new Generator(3));
        var labels = tensor(new long[] { 0, 3, 7, 9, 1, 2, 5, 8 });
        using var optimizer = optim.SGD(network.parameters(), 0.01);
        network.train();
        foreach (var (_, dropout) in network.named_modules().Where(m => m.module is Dropout))
            dropout.eval();
        var losses = new List<float>();
        for (int step = 0; step < 4; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(replica.Forward(images), labels);
            losses.Add(loss.item<float>());
            loss.backward();
            replica.CopyGradientsToMaster();
            optimizer.step();
        }
        Assert.True(losses.All(float.IsFinite) && losses[^1] < losses[0], $"{name}: losses {string.Join(", ", losses)}");
    }

    [Fact]
    public void ConvolutionAndLinearWeightsAreBFloat16InTheReplicaOnly()
    {
        using var pair = NetworkAndReplica.ResNet9();
        var (network, replica) = (pair.Network, pair.Replica);
        foreach (var (name, layer) in replica.Network.named_modules().Where(m => m.module.named_parameters(recurse: false).Any()))
        {
            var expected = layer is Conv2d or Linear ? ScalarType.BFloat16 : ScalarType.Float32;
            Assert.All(layer.parameters(recurse: false), p => Assert.True(p.dtype == expected, $"{name}: {p.dtype}"));
        }
        Assert.All(network.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(replica.Network.buffers().Concat(network.buffers()).Where(b => b.is_floating_point()),
            b => Assert.Equal(ScalarType.Float32, b.dtype));
    }

    [Fact]
    public void BatchNormStatisticsOfAStepReachTheNetwork()
    {
        using var pair = NetworkAndReplica.ResNet9();
        var (network, replica) = (pair.Network, pair.Replica);
        using var scope = NewDisposeScope();
        var images = randn(16, 3, 16, 16) * 3 + 1;
        var before = RunningMeans(network).Select(m => m.clone()).ToList();
        network.train();
        using (no_grad())
            replica.Forward(images);
        replica.CopyGradientsToMaster();
        var afterReplica = RunningMeans(network).Select(m => m.clone()).ToList();
        Assert.True(before.Zip(afterReplica).All(p => !p.First.eq(p.Second).all().item<bool>()), "every running mean moves with a training step");

        // The same step in float32 from the same statistics lands in the same place, to bfloat16 accuracy.
        using (no_grad())
        {
            foreach (var (mean, old) in RunningMeans(network).Zip(before))
                mean.copy_(old);
            network.call(images);
        }
        var afterFloat32 = RunningMeans(network).ToList();
        foreach (var (mixed, full) in afterReplica.Zip(afterFloat32))
            Assert.True((mixed - full).abs().max().item<float>() <= 0.05 * full.abs().max().item<float>() + 1e-3);
    }

    [Fact]
    public void FrozenLayersGetNoGradientAndEvaluationModeCarriesOver()
    {
        using var pair = NetworkAndReplica.ResNet9();
        var (network, replica) = (pair.Network, pair.Replica);
        using var scope = NewDisposeScope();
        var (firstName, first) = network.named_modules().First(m => m.module is Conv2d);
        var (normName, norm) = network.named_modules().First(m => m.module is BatchNorm2d);
        foreach (var parameter in first.parameters())
            parameter.requires_grad = false;
        network.train();
        norm.eval(); // as fine-tuning keeps a frozen batch norm's pretrained statistics
        var statistics = RunningMeans(norm).Single().clone();
        nn.functional.cross_entropy(replica.Forward(randn(8, 3, 16, 16) + 2), randint(0, 10, 8, dtype: ScalarType.Int64)).backward();
        replica.CopyGradientsToMaster();
        Assert.All(first.parameters(), p => Assert.Null(p.grad));
        Assert.All(network.named_parameters().Where(p => !p.name.StartsWith(firstName + ".", StringComparison.Ordinal)),
            p => Assert.NotNull(p.parameter.grad));
        Assert.True(statistics.eq(RunningMeans(norm).Single()).all().item<bool>(),
            $"the batch norm '{normName}' in evaluation mode keeps its statistics");
    }

    private static float[] TrainedState(CnnArchitecture architecture, TrainingPrecision precision, out List<string> log, out double accuracy)
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { lock (messages) messages.Add(e.Message); };
        var options = new CnnTrainerOptions
        {
            Architecture = architecture, Epochs = 3, BatchSize = 16, Seed = 3, NumberOfThreads = 1,
            Optimizer = CnnOptimizer.Adam, LearningRate = 0.01, Precision = precision,
        };
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(96, 3, 1));
        using var model = new CnnTrainer(ml, options).Fit(data);
        accuracy = ml.MulticlassClassification.Evaluate(model.Transform(data)).MicroAccuracy;
        log = messages;
        return model.Network.Module.state_dict().Values.Where(t => t.is_floating_point())
            .SelectMany(t => Assert.IsType<float[]>(t.data<float>().ToArray())).ToArray();
    }

    [Fact]
    public void ANetworkTrainedInMixedPrecisionLearnsAndComesBackInFloat32()
    {
        var mixed = TrainedState(CnnArchitecture.ResNet9(4), TrainingPrecision.MixedBFloat16, out var log, out double mixedAccuracy);
        var full = TrainedState(CnnArchitecture.ResNet9(4), TrainingPrecision.Float32, out _, out double fullAccuracy);
        Assert.Contains(log, m => m.Contains("train in bfloat16"));
        Assert.NotEqual(full, mixed);
        Assert.True(mixedAccuracy >= 0.9 && mixedAccuracy >= fullAccuracy - 0.05, $"mixed precision {mixedAccuracy:P1}, float32 {fullAccuracy:P1}");
    }

    [Fact]
    public void WhereBFloat16IsNotNativeARunTrainsInFloat32BitForBit()
    {
        var whereNative = TrainedState(CnnArchitecture.ResNet9(4), TrainingPrecision.MixedBFloat16WhereNative, out var log, out _);
        var full = TrainedState(CnnArchitecture.ResNet9(4), TrainingPrecision.Float32, out _, out _);
        if (BFloat16Instructions.Supported && TorchRuntime.UseOneDnn)
        {
            Assert.Contains(log, m => m.Contains("train in bfloat16"));
            Assert.NotEqual(full, whereNative);
        }
        else
        {
            string reason = BFloat16Instructions.Supported ? "oneDNN kernels are off" : "bfloat16 instructions";
            Assert.Contains(log, m => m.Contains("training in float32") && m.Contains(reason));
            Assert.Equal(full, whereNative);
        }
    }

    [Fact]
    public void ACustomArchitectureTrainsInFloat32AndTheLogSaysWhy()
    {
        var custom = CnnArchitecture.Custom("MixedPrecisionTinyCustom", (channels, height, width, classes) => nn.Sequential(
            ("conv", nn.Conv2d(channels, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("flatten", nn.Flatten()),
            ("fc", nn.Linear(4 * height * width, classes))));
        var mixed = TrainedState(custom, TrainingPrecision.MixedBFloat16, out var log, out _);
        var full = TrainedState(custom, TrainingPrecision.Float32, out _, out _);
        Assert.Contains(log, m => m.Contains("training in float32") && m.Contains("custom architecture"));
        Assert.Equal(full, mixed);
    }

    [Fact]
    public void AResumedMixedPrecisionRunEqualsTheUninterruptedOneAndAFloat32RunCannotResumeIt()
    {
        var ml = new MLContext(seed: 1);
        CnnTrainerOptions Options(TrainingPrecision precision) => new()
        {
            Architecture = CnnArchitecture.ResNet9(4), Epochs = 3, BatchSize = 16, Seed = 8, NumberOfThreads = 1,
            Optimizer = CnnOptimizer.Sgd, Nesterov = true, LearningRate = 0.05, ProgressInterval = 1000, Precision = precision,
        };
        IDataView Data() => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1));
        static float[] State(CnnTransformer model)
            => model.Network.Module.state_dict().Values.Where(t => t.is_floating_point()).SelectMany(t => t.data<float>().ToArray()).ToArray();

        var (uninterrupted, checkpoint) = UninterruptedRun.Train(ml, Options(TrainingPrecision.MixedBFloat16), Data(), _temp, 1);
        float[] expected;
        using (uninterrupted)
            expected = State(uninterrupted);
        var resumed = Options(TrainingPrecision.MixedBFloat16);
        resumed.ResumeFromCheckpoint = checkpoint;
        using (var model = new CnnTrainer(ml, resumed).Fit(Data()))
            Assert.Equal(expected, State(model));

        var float32 = Options(TrainingPrecision.Float32);
        float32.ResumeFromCheckpoint = checkpoint;
        Assert.Contains("precision=MixedBFloat16", Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, float32).Fit(Data())).Message);
    }

    [Fact]
    public void AnUnknownPrecisionIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Precision = (TrainingPrecision)7 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, options));
        Assert.Contains("CnnTrainerOptions.Precision", error.Message);
    }
}
