// Stopwatch benchmarks of MlNetCnn (no BenchmarkDotNet):
//   lenet   — CnnTrainer inside an ML.NET pipeline vs a hand-written TorchSharp loop, LeNet-5 on 1×28×28, same process.
//   malloc  — a VGG-style network on 3×32×32 in child processes with MlNetCnn's mallopt tuning off, on, and with
//             GLIBC_TUNABLES instead, to see whether the library's start-up mallopt gives every user the tunables' gain.
//   zoo     — every architecture's training and inference images/s on random 3×32×32 batches (batch 128 unless --batch).
//   augment — pipeline epochs with and without the AugmentImages transform (CIFAR-size images), same process.
//   streaming — the data path on JPG files (--data root): decode cost, cached vs streamed ResNet-18, byte vs float
//             cache, resident memory of a long streamed run (see StreamingBenchmark.cs; --only decode,resnet18,cifar,memory).
//   onnx    — ONNX Runtime on the exported model vs the library's libtorch scoring: batch images/s and single-image
//             latency for LeNet-5 (1×28×28), ResNet9(32) (3×32×32) and ResNet-18 (3×224×224) (batch 256 unless --batch).
//   kernel-check — the kernel check's verdict and its cost in this process (start-up, EnsureInitialized included),
//             and the probe's own compute time in this process; run with MLNETCNN_CACHE_DIR=<empty folder> for a first check.
//   all     — lenet then malloc (the default).
//   profile — the LeNet-5 trainer against the plain loop with the trainer's extras added one by one, per-phase times.
//   latency — single-image PredictionEngine latency (p50/p99) of reloaded LeNet-5 and ResNet-18 models, libtorch's default
//             thread count against MlNetCnn's scoring default, quiet and beside busy threads.
// dotnet run --project benchmarks/MlNetCnn.Benchmarks -c Release --
//   [lenet|malloc|zoo|augment|onnx|streaming|all|profile|latency|kernel-check] [--images N] [--epochs N]
//   [--data DIR] [--batch N] [--repeats N] [--threads N] [--seed N] [--max-wait S] [--seconds S] [--only Name,Name]
//   [--size N] [--layout planar|channels-last|both] [--precision float32|bfloat16|both]
//   [--predictions N] [--before-threads N] [--load N]
// Before every timed run the harness waits up to --max-wait seconds (default 30, 0 = never) for other processes to
// leave the cores, and every run reports how many cores other processes used meanwhile.
using System.Diagnostics;
using System.Globalization;
using MlNetCnn;
using MlNetCnn.Benchmarks;
using MlNetCnn.Platform;
using TorchSharp;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(BenchmarkOptions.Usage);
    Console.WriteLine(BenchmarkHelp.Text);
    return 0;
}

BenchmarkOptions options;
try
{
    options = BenchmarkOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchmarkOptions.Usage);
    return 2;
}

// Runs MlNetCnn's start-up (libLibTorchSharp fix-up, mallopt unless MLNETCNN_MALLOC_TUNING=0, the kernel check)
// before any tensor exists.
var startUp = Stopwatch.StartNew();
TorchRuntime.EnsureInitialized();
if (options.Mode is "kernel-check")
    return KernelCheckBenchmark.Run(startUp.Elapsed, options.Repeats ?? 3);
// The count libtorch gives a thread nobody configured: what a loaded model scored with before TorchRuntime.ScoringThreads.
int libtorchDefaultThreads = torch.get_num_threads();
torch.set_num_threads(options.Threads);
QuietMachine.MaxWaitSeconds = options.MaxWaitSeconds;

if (options.Child)
    return MallocBenchmark.RunChild(options);

Console.WriteLine($"MlNetCnn benchmarks: {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, .NET {Environment.Version}, " +
                  $"MLNETCNN_MALLOC_TUNING={Environment.GetEnvironmentVariable("MLNETCNN_MALLOC_TUNING") ?? "(unset)"}, " +
                  $"GLIBC_TUNABLES={Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "(unset)"}, library " +
                  $"mallopt applied: {AllocatorProbe.LibraryTuningApplied()}");
var report = new List<string>();
if (options.Mode is "lenet" or "all")
    report.AddRange(LeNetBenchmark.Run(options));
if (options.Mode is "malloc" or "all")
    report.AddRange(MallocBenchmark.Run(options));
if (options.Mode is "zoo")
    report.AddRange(ZooBenchmark.Run(options));
if (options.Mode is "augment")
    report.AddRange(AugmentationBenchmark.Run(options));
if (options.Mode is "streaming")
    report.AddRange(StreamingBenchmark.Run(options));
if (options.Mode is "onnx")
    report.AddRange(OnnxBenchmark.Run(options));
if (options.Mode is "latency")
    report.AddRange(LatencyBenchmark.Run(options, libtorchDefaultThreads));
if (options.Mode is "profile")
    report.AddRange(LeNetBenchmark.Profile(options));

Console.WriteLine();
Console.WriteLine("==================== RESULTS ====================");
foreach (var line in report)
    Console.WriteLine(line);
return 0;

namespace MlNetCnn.Benchmarks
{
    internal sealed record BenchmarkOptions(string Mode, int? Images, int? Epochs, int BatchSize, int? Repeats,
        int Threads, int Seed, int MaxWaitSeconds, bool Child, string Label)
    {
        public const string Usage = "usage: MlNetCnn.Benchmarks "
            + "[lenet|malloc|zoo|augment|onnx|streaming|all|profile|latency|kernel-check] [--data DIR] [--images N] "
            + "[--epochs N] [--batch N] [--repeats N] [--threads N] [--seed N] [--max-wait S] [--seconds S] [--only "
            + "Name,Name] [--size N] [--layout planar|channels-last|both] [--precision float32|bfloat16|both] "
            + "[--predictions N] [--before-threads N] [--load N]";

        /// <summary>latency: predictions per repeat (LeNet-5; ResNet-18 gets a fifth).</summary>
        public int? Predictions { get; init; }

        /// <summary>latency: the "before" thread count (default: libtorch's count for a fresh thread).</summary>
        public int? BeforeThreads { get; init; }

        /// <summary>latency: busy threads of the competing load (default: one per core).</summary>
        public int? Load { get; init; }

        /// <summary>streaming: the image folder (root/&lt;label&gt;/&lt;image&gt;).</summary>
        public string? Data { get; init; }

        /// <summary>zoo: the least time spent in training steps per architecture (inference gets half).</summary>
        public double? Seconds { get; init; }

        /// <summary>zoo: the image height and width (default 32).</summary>
        public int Size { get; init; } = 32;

        /// <summary>zoo: measure only these architectures (all when empty).</summary>
        public IReadOnlyList<string> Only { get; init; } = [];

        /// <summary>zoo: the batch layouts to measure: channels-last (what the trainer gives built-in networks on the
        /// CPU), planar, or both.</summary>
        public string Layout { get; init; } = "channels-last";

        /// <summary>zoo: the training precision to measure: float32 (default), bfloat16 mixed precision, or both.</summary>
        public string Precision { get; init; } = "float32";

        public static BenchmarkOptions Parse(string[] args)
        {
            string mode = "all", label = "";
            string? data = null;
            int? images = null, epochs = null, repeats = null, batchOption = null, predictions = null, beforeThreads = null, load = null;
            double? seconds = null;
            int size = 32;
            string[] only = [];
            string layout = "channels-last", precision = "float32";
            int threads = 2, seed = 1, maxWait = 30;
            bool child = false;
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                int Number()
                {
                    string name = args[i], value = Value();
                    return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
                        ? n : throw new ArgumentException($"{name} needs a positive whole number, not '{value}'.");
                }
                switch (args[i])
                {
                    case "lenet" or "malloc" or "zoo" or "augment" or "onnx" or "streaming" or "all" or "profile"
                        or "latency" or "kernel-check": mode = args[i]; break;
                    case "--predictions": predictions = Number(); break;
                    case "--before-threads": beforeThreads = Number(); break;
                    case "--load": load = Number(); break;
                    case "--data": data = Value(); break;
                    case "--images": images = Number(); break;
                    case "--epochs": epochs = Number(); break;
                    case "--batch": batchOption = Number(); break;
                    case "--seconds": seconds = Number(); break;
                    case "--size": size = Number(); break;
                    case "--layout": layout = Value() is var l && l is "planar" or "channels-last" or "both" ? l
                        : throw new ArgumentException("--layout takes planar, channels-last or both."); break;
                    case "--precision": precision = Value() is var p && p is "float32" or "bfloat16" or "both" ? p
                        : throw new ArgumentException("--precision takes float32, bfloat16 or both."); break;
                    case "--only": only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                    case "--repeats": repeats = Number(); break;
                    case "--threads": threads = Number(); break;
                    case "--seed": seed = Number(); break;
                    case "--max-wait": maxWait = int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture,
                        out int w) ? w
                        : throw new ArgumentException("--max-wait needs a whole number of seconds."); break;
                    case "--child": child = true; label = Value(); break; // internal: one malloc-mode measurement
                    default: throw new ArgumentException($"Unknown argument '{args[i]}'.");
                }
            }
            // The zoo and augmentation figures are quoted at batch 128; the LeNet comparison at the trainer's default 64.
            int batch = batchOption ?? (mode is "zoo" or "augment" ? 128 : mode is "onnx" ? 256 : 64);
            return new BenchmarkOptions(mode, images, epochs, batch, repeats, threads, seed, maxWait, child,
                label) { Seconds = seconds, Only = only, Layout = layout, Precision = precision, Size = size,
                Predictions = predictions, BeforeThreads = beforeThreads, Load = load, Data = data };
        }

        /// <summary>The arguments that make a child process measure with the same settings.</summary>
        public IEnumerable<string> ChildArguments(string label, int images, int epochs)
            => ["--child", label, "--images", $"{images}", "--epochs", $"{epochs}", "--batch", $"{BatchSize}",
                "--threads", $"{Threads}", "--seed", $"{Seed}", "--max-wait", $"{MaxWaitSeconds}"];
    }

    internal static class LeNetBenchmark
    {
        public static IEnumerable<string> Run(BenchmarkOptions options)
        {
            int count = options.Images ?? 20_000, epochs = options.Epochs ?? 3, repeats = options.Repeats ?? 3;
            var shape = new ImageShape(1, 28, 28);
            Console.WriteLine();
            Console.WriteLine($"== lenet: LeNet-5 on {count} synthetic {shape} images, 10 classes, {epochs} epochs, batch {options.BatchSize}, " +
                              $"{options.Threads} threads, {repeats} alternating repeats ==");
            var data = SyntheticImages.Create(shape, count, 10, options.Seed);
            var source = new PipelineSource(data);
            torch.nn.Module<torch.Tensor, torch.Tensor> CreateModule() => CnnArchitecture.LeNet5.CreateModule(1, 28, 28, 10);

            // One epoch of each on the full data: JIT, libtorch's first calls, and the first-touch page faults of the
            // trainer's copy of the data set all happen before the timed runs.
            var clock = Stopwatch.StartNew();
            Measurements.Pipeline(source, CnnArchitecture.LeNet5, 1, options.BatchSize, options.Threads, options.Seed);
            Measurements.PlainLoop(data, CreateModule, 1, options.BatchSize, options.Threads, options.Seed);
            Console.WriteLine($"warm-up done in {clock.Elapsed.TotalSeconds:F1} s");

            var pipeline = new List<RunResult>();
            var plain = new List<RunResult>();
            int retried = 0;
            for (int r = 1; r <= repeats; r++)
            {
                for (int attempt = 0; ; attempt++)
                {
                    var a = Measurements.Pipeline(source, CnnArchitecture.LeNet5, epochs, options.BatchSize, options.Threads, options.Seed);
                    Print($"run {r} (a) pipeline  ", a, "Fit");
                    var b = Measurements.PlainLoop(data, CreateModule, epochs, options.BatchSize, options.Threads, options.Seed);
                    Print($"run {r} (b) plain loop", b, "setup+loop");
                    // A pair that another process disturbed is measured again (at most MaxRetries times).
                    if (attempt < QuietMachine.MaxRetries && (a.Disturbed || b.Disturbed))
                    {
                        retried++;
                        Console.WriteLine($"   (run {r} disturbed by other processes: measuring the pair again)");
                        continue;
                    }
                    pipeline.Add(a);
                    plain.Add(b);
                    break;
                }
            }

            double aTrain = Measurements.Median(pipeline.Select(p => p.TrainImagesPerSecond));
            double aFit = Measurements.Median(pipeline.Select(p => p.TotalImagesPerSecond));
            double bTrain = Measurements.Median(plain.Select(p => p.TrainImagesPerSecond));
            double bTotal = Measurements.Median(plain.Select(p => p.TotalImagesPerSecond));
            double aBest = pipeline.SelectMany(p => p.EpochImagesPerSecond).Max();
            double bBest = plain.SelectMany(p => p.EpochImagesPerSecond).Max();
            return
            [
                $"LeNet-5, 1x28x28, {count} images x {epochs} epochs, batch {options.BatchSize}, {options.Threads} threads, median of {repeats}:",
                $"  {"",-44} {"images/s",10}",
                $"  {"(a) pipeline, trainer epochs (training only)",-44} {aTrain,10:F0}",
                $"  {"(a) pipeline, whole Fit (incl. data reading)",-44} {aFit,10:F0}",
                $"  {"(b) plain TorchSharp loop (training only)",-44} {bTrain,10:F0}",
                $"  {"(b) plain loop incl. setup",-44} {bTotal,10:F0}",
                $"  ratio (a)/(b) training only: {aTrain / bTrain:F3}   whole Fit / plain incl. setup: {aFit / bTotal:F3}   (target >= 0.9)",
                $"  best single epoch (least disturbed): (a) {aBest:F0}  (b) {bBest:F0}  ratio {aBest / bBest:F3}",
                "  per-run (a)/(b) training only: "
                + string.Join(", ", pipeline.Zip(plain, (p, q)
                    => (p.TrainImagesPerSecond / q.TrainImagesPerSecond).ToString("F3", CultureInfo.InvariantCulture))),
                "  other processes' CPU during the kept runs: up to " +
                $"{pipeline.Concat(plain).Max(r => r.Stats.OtherCores(r.TotalSeconds)):F2} cores of " +
                $"{Environment.ProcessorCount}" +
                    $" (above {QuietMachine.DisturbedAbove} the figures are disturbed: libtorch's OpenMP threads " +
                    "spin-wait for a core another process holds);" +
                    $" {retried} disturbed pair(s) measured again",
                "",
            ];
        }

        /// <summary>The LeNet-5 trainer against the plain loop with the trainer's extras added one at a time, per-phase times.</summary>
        public static IEnumerable<string> Profile(BenchmarkOptions options)
        {
            int count = options.Images ?? 20_000, epochs = options.Epochs ?? 1, repeats = options.Repeats ?? 2;
            var data = SyntheticImages.Create(new ImageShape(1, 28, 28), count, 10, options.Seed);
            var source = new PipelineSource(data);
            long steps = (long)epochs * ((count + options.BatchSize - 1) / options.BatchSize);
            torch.nn.Module<torch.Tensor, torch.Tensor> CreateModule() => CnnArchitecture.LeNet5.CreateModule(1, 28, 28, 10);
            Console.WriteLine();
            Console.WriteLine($"== profile: LeNet-5, {count} images x {epochs} epoch(s), batch {options.BatchSize}, {options.Threads} threads ==");
            var variants = new (string Name, Profiler.Extras Extras)[]
            {
                ("plain (index_select)", Profiler.Extras.None),
                ("+ copy into preallocated", Profiler.Extras.CopyIntoPreallocated),
                ("+ standardize", Profiler.Extras.CopyIntoPreallocated | Profiler.Extras.Standardize),
                ("+ lr schedule", Profiler.Extras.CopyIntoPreallocated | Profiler.Extras.Standardize | Profiler.Extras.LearningRateSchedule),
                ("+ accuracy count (= trainer loop)", Profiler.Extras.All),
            };
            Profiler.Run(data.Take(2048), CreateModule, Profiler.Extras.All, 1, options.BatchSize, options.Threads, options.Seed);
            Measurements.Pipeline(new PipelineSource(data.Take(2048)), CnnArchitecture.LeNet5, 1, options.BatchSize, options.Threads, options.Seed);
            var lines =
                new List<string> { $"profile, LeNet-5 1x28x28, {count} images x {epochs} epoch(s), batch "
                    + $"{options.BatchSize}, {options.Threads} threads:" };
            for (int r = 1; r <= repeats; r++)
            {
                foreach (var (name, extras) in variants)
                {
                    var result = Profiler.Run(data, CreateModule, extras, epochs, options.BatchSize, options.Threads, options.Seed);
                    lines.Add("  " + Profiler.Format(name, result, steps));
                    Console.WriteLine(lines[^1]);
                }
                var pipeline = Measurements.Pipeline(source, CnnArchitecture.LeNet5, epochs, options.BatchSize, options.Threads, options.Seed);
                lines.Add($"  {"CnnTrainer in pipeline",-34} {pipeline.TrainImagesPerSecond,7:F0} img/s  (Fit "
                    + $"{pipeline.TotalImagesPerSecond:F0} img/s, other processes "
                    + $"{pipeline.Stats.OtherCores(pipeline.TotalSeconds):F2} cores)");
                Console.WriteLine(lines[^1]);
            }
            lines.Add("");
            return lines;
        }

        internal static void Print(string name, RunResult r, string totalName)
            => Console.WriteLine($"{name}: training {r.TrainImagesPerSecond,7:F0} images/s ({r.TrainSeconds:F2} s), " +
                $"{totalName} {r.TotalImagesPerSecond,7:F0} images/s " +
                                 $"({r.TotalSeconds:F2} s), last-epoch loss {r.FinalLoss:F4}, minor faults {r.Stats.MinorFaults}, " +
                                 $"cpu user {r.Stats.UserSeconds:F1} s sys {r.Stats.SystemSeconds:F1} s, other " +
                                 $"processes {r.Stats.OtherCores(r.TotalSeconds):F2} cores");
    }
}
