using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Training and inference throughput of every architecture of the zoo on random 3×32×32 batches (10 classes): a
/// training step is forward, cross-entropy, backward and an Adam step (the trainer's default optimizer); inference is
/// a forward pass in eval mode without gradients. The network itself is measured, not data handling. Batches are
/// laid out as the trainer hands them to the network (channels-last memory for the built-in networks on the CPU; see
/// NetworkCall); <c>--layout both</c> measures planar batches too, and the ratio. <c>--precision bfloat16</c> (or
/// <c>both</c>) measures training steps in bfloat16 mixed precision as the trainer runs them
/// (<see cref="TrainingPrecision.MixedBFloat16"/>: the bfloat16 replica's forward and backward, its gradients copied to
/// the float32 weights, the Adam step on those); inference stays float32, as the trained model scores.
/// </summary>
internal static class ZooBenchmark
{
    private const int Classes = 10;

    public static IEnumerable<string> Run(BenchmarkOptions options)
    {
        int batch = options.BatchSize, size = options.Size;
        double seconds = options.Seconds ?? 4;
        // Parameterized ones are registered on first use; list the defaults with the rest.
        CnnArchitecture.CnnNFeature();
        CnnArchitecture.Mlp();
        CnnArchitecture.ResNet9();
        CnnArchitecture.ResNet9(32);
        // --only also names parameterized ones that are not registered yet (AirbenchNet-64, ResNet-2-2-2-3).
        var architectures = options.Only.Count == 0 ? CnnArchitecture.All.ToList() : options.Only.Select(CnnArchitecture.FromName).ToList();
        Console.WriteLine();
        Console.WriteLine($"== zoo: {architectures.Count} architectures on random 3x{size}x{size} batches of " +
                          $"{batch}, {Classes} classes, {options.Threads} threads, " +
                          $"at least {seconds:F0} s of training steps and of inference each ==");
        var layouts = options.Layout == "both" ? new[] { false, true } : [options.Layout == "channels-last"];
        var precisions = options.Precision == "both" ? new[] { false, true } : [options.Precision == "bfloat16"];
        // The replica runs the built-in networks on channels-last batches, as the trainer does: no planar bfloat16 variant.
        var variants = layouts.SelectMany(channelsLast => precisions.Where(mixed => channelsLast || !mixed)
            .Select(mixed => (ChannelsLast: channelsLast, Mixed: mixed))).ToList();
        var lines = new List<string>
        {
            $"Architecture throughput, 3x{size}x{size} (TwoBranch: two 3x{size}x{size} images), batch {batch}, "
                + $"{options.Threads} threads, {Classes} classes, images/s:",
            $"  {"architecture",-16} {"parameters",12} {"MACs/image",14} {"variant",-13} {"training",9} {"inference",10}  other cores",
        };
        foreach (var architecture in architectures)
        {
            string line;
            if (architecture.MinimumImageSize > size)
                line = $"  {architecture.Name,-16} {"",12} {"",14} {"-",9} {"-",10}  needs at least "
                    + $"{architecture.MinimumImageSize}x{architecture.MinimumImageSize}";
            else
            {
                int channels = architecture == CnnArchitecture.TwoBranch ? 6 : 3;
                var shape = new ImageShape(channels, size, size);
                var summary = architecture.Summarize(shape, Classes);
                var results =
                    variants.Select(v =>
                        (Layout: v.Mixed ? "bfloat16" : v.ChannelsLast ? "channels-last" : "planar",
                            Result: Measure(architecture, shape, batch, seconds, options.Seed, v.ChannelsLast,
                                v.Mixed))).ToList();
                line = string.Join(Environment.NewLine, results.Select((r, i) => string.Create(CultureInfo.InvariantCulture,
                    $"  {(i == 0 ? architecture.Name : ""),-16} "
                    + $"{(i == 0 ? summary.TotalParameters.ToString("N0", CultureInfo.InvariantCulture) : ""),12} "
                    + $"{(i == 0 ? summary.MultiplyAccumulates.ToString("N0", CultureInfo.InvariantCulture) : ""),14} "
                    + $"{r.Layout,-13} {r.Result.Train,9:F0} {r.Result.Inference,10:F0}  {r.Result.OtherCores:F2}")));
                if (results.Count == 2)
                    line += string.Create(CultureInfo.InvariantCulture,
                        $"{Environment.NewLine}  {"",-16} {"",12} {"",14} {"ratio",-13} "
                        + $"{results[1].Result.Train / results[0].Result.Train,9:F3} "
                        + $"{results[1].Result.Inference / results[0].Result.Inference,10:F3}");
            }
            Console.WriteLine(line);
            lines.Add(line);
        }
        lines.Add("  (other cores: CPU other processes used meanwhile; above 0.15 a figure is disturbed)");
        lines.Add("");
        return lines;
    }

    private static (double Train, double Inference, double OtherCores) Measure(CnnArchitecture architecture,
        ImageShape shape, int batch, double seconds, int seed, bool channelsLast, bool mixed)
    {
        torch.random.manual_seed(seed);
        using var module = architecture.CreateModule(shape.Channels, shape.Height, shape.Width, Classes);
        using var replica = mixed
            ? MixedPrecisionReplica.Create(module,
                () => architecture.CreateModule(shape.Channels, shape.Height, shape.Width, Classes),
            TrainingPrecision.MixedBFloat16, architecture, CPU, _ => { }) : null;
        using var optimizer = optim.Adam(module.parameters(), 1e-3);
        using var images = torch.rand(batch, shape.Channels, shape.Height, shape.Width);
        using var labels = torch.randint(0, Classes, [batch]);
        var network = new NetworkCall(module, channelsLast);

        void TrainStep()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(replica?.Forward(images) ?? network.Forward(images), labels);
            loss.backward();
            replica?.CopyGradientsToMaster();
            optimizer.step();
            loss.item<float>();
        }
        void InferenceStep()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            network.Forward(images); // CPU kernels are synchronous: the logits are computed when this returns
        }

        module.train();
        TrainStep(); // first-call costs: allocations, Adam's state, oneDNN kernel selection
        GC.Collect();
        QuietMachine.Wait();
        var before = ProcessStats.Read();
        var clock = Stopwatch.StartNew();
        double train = Measurements.ImagesPerSecond(TrainStep, batch, seconds);
        module.eval();
        InferenceStep();
        double inference = Measurements.ImagesPerSecond(InferenceStep, batch, seconds / 2);
        double other = (ProcessStats.Read() - before).OtherCores(clock.Elapsed.TotalSeconds);
        return (train, inference, other);
    }
}
