using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Does MlNetCnn's start-up mallopt (Platform/GlibcAllocatorTuning.cs) give every user what
/// GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 gives? The same VGG-style
/// training runs in fresh child processes (this program again, under dotnet) with the tuning off, on (the default),
/// and off but with GLIBC_TUNABLES set; each child reports images/s, page faults and system CPU time.
/// </summary>
internal static class MallocBenchmark
{
    public const string GlibcTunables = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824";

    private static readonly (string Label, string? Tuning, string? Tunables)[] s_variants =
    [
        ("tuning off", "0", null),
        ("tuning on (default)", null, null),
        ("GLIBC_TUNABLES, tuning off", "0", GlibcTunables),
    ];

    public static IEnumerable<string> Run(BenchmarkOptions options)
    {
        int count = options.Images ?? 1024, epochs = options.Epochs ?? 1, rounds = options.Repeats ?? 3;
        Console.WriteLine();
        Console.WriteLine($"== malloc: SmallVgg (64,64,pool,128,128,pool,256,256,pool,linear; conv-BN-ReLU) on {count} synthetic 3x32x32 images, " +
                          $"{epochs} epoch(s), batch {options.BatchSize}, {options.Threads} threads, {rounds} " +
                          $"round(s) of {s_variants.Length} child processes ==");
        var results = s_variants.ToDictionary(v => v.Label, _ => new List<ChildResult>());
        for (int round = 1; round <= rounds; round++)
        {
            foreach (var variant in s_variants)
            {
                var result = RunChildProcess(options, variant, count, epochs);
                for (int attempt = 0; attempt < QuietMachine.MaxRetries && result.OtherCores > QuietMachine.DisturbedAbove; attempt++)
                {
                    Console.WriteLine($"   (child disturbed by other processes, {result.OtherCores:F2} cores: running it again)");
                    result = RunChildProcess(options, variant, count, epochs);
                }
                results[variant.Label].Add(result);
            }
        }

        var lines = new List<string>
        {
            $"malloc tuning, SmallVgg 3x32x32, {count} images x {epochs} epoch(s), batch {options.BatchSize}, "
                + $"{options.Threads} threads, median of {rounds} child process(es) each:",
            $"  {"variant",-28} {"plain img/s",11} {"pipe train",11} {"pipe Fit",9} {"faults/img",11} {"sys s",6} "
            + $"{"peak MiB",8} {"mallopt",8} {"160MiB from",11} {"other cores",11}",
        };
        foreach (var (label, _, _) in s_variants)
        {
            var r = results[label];
            lines.Add($"  {label,-28} {Measurements.Median(r.Select(x => x.PlainImagesPerSecond)),11:F1} " +
                      $"{Measurements.Median(r.Select(x => x.PipelineTrainImagesPerSecond)),11:F1} " +
                      $"{Measurements.Median(r.Select(x => x.PipelineFitImagesPerSecond)),9:F1} " +
                      $"{Measurements.Median(r.Select(x => x.PlainFaultsPerImage)),11:F1} " +
                      $"{Measurements.Median(r.Select(x => x.PlainSystemSeconds)),6:F1} " +
                      $"{Measurements.Median(r.Select(x => x.PeakResidentMiB)),8:F0} {r[0].MalloptApplied,8} " +
                      $"{r[0].LargeBlockSource,11} {r.Max(x => x.OtherCores),11:F2}");
        }
        double Plain(string label) => Measurements.Median(results[label].Select(x => x.PlainImagesPerSecond));
        double Pipe(string label) => Measurements.Median(results[label].Select(x => x.PipelineTrainImagesPerSecond));
        string off = s_variants[0].Label, on = s_variants[1].Label, tunables = s_variants[2].Label;
        lines.Add($"  ratio on/off:        plain {Plain(on) / Plain(off):F3}   pipeline {Pipe(on) / Pipe(off):F3}");
        lines.Add($"  ratio tunables/off:  plain {Plain(tunables) / Plain(off):F3}   pipeline {Pipe(tunables) / Pipe(off):F3}");
        lines.Add($"  ratio on/tunables:   plain {Plain(on) / Plain(tunables):F3}   pipeline {Pipe(on) / Pipe(tunables):F3}");
        lines.Add("  (faults/img, sys s: minor page faults per image and system CPU seconds of the plain loop; peak MiB: the child's VmHWM;");
        lines.Add("   160MiB from: where glibc serves a 160 MiB malloc after training; other cores: the most CPU other processes used");
        lines.Add($"   during a child's timed runs; above {QuietMachine.DisturbedAbove} the figures are disturbed and the child was run again.)");
        lines.Add("");
        return lines;
    }

    private static ChildResult RunChildProcess(BenchmarkOptions options,
        (string Label, string? Tuning, string? Tunables) variant, int count, int epochs)
    {
        string dll = typeof(SmallVgg).Assembly.Location;
        string host = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (string argument in options.ChildArguments(variant.Label, count, epochs))
            start.ArgumentList.Add(argument);
        SetOrRemove(start, "MLNETCNN_MALLOC_TUNING", variant.Tuning);
        SetOrRemove(start, "GLIBC_TUNABLES", variant.Tunables);
        Console.WriteLine($"-- child '{variant.Label}': MLNETCNN_MALLOC_TUNING={variant.Tuning ?? "(unset)"} "
            + $"GLIBC_TUNABLES={variant.Tunables ?? "(unset)"}");

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {host} {dll}.");
        ChildResult? result = null;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            Console.WriteLine("   | " + line);
            if (line.StartsWith(ChildResult.Prefix, StringComparison.Ordinal))
                result = ChildResult.Parse(line);
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || result is null)
            throw new InvalidOperationException($"The child '{variant.Label}' exited with {process.ExitCode} without a result.");
        return result;
    }

    private static void SetOrRemove(ProcessStartInfo start, string name, string? value)
    {
        if (value is null)
            start.Environment.Remove(name);
        else
            start.Environment[name] = value;
    }

    /// <summary>One child process: warm-up, then the plain loop and the pipeline, each timed once.</summary>
    public static int RunChild(BenchmarkOptions options)
    {
        var shape = new ImageShape(3, 32, 32);
        int count = options.Images ?? 1024, epochs = options.Epochs ?? 1;
        var data = SyntheticImages.Create(shape, count, 10, options.Seed);
        var source = new PipelineSource(data);
        var warmup = new PipelineSource(data.Take(Math.Min(count, 2 * options.BatchSize)));
        nn.Module<Tensor, Tensor> CreateModule() => new SmallVgg(3, 32, 32, 10);
        Console.WriteLine($"{options.Label}: pid {Environment.ProcessId}, library mallopt applied: {AllocatorProbe.LibraryTuningApplied()}");

        Measurements.PlainLoop(warmup.Data, CreateModule, 1, options.BatchSize, options.Threads, options.Seed);
        Measurements.Pipeline(warmup, SmallVgg.Architecture, 1, options.BatchSize, options.Threads, options.Seed);

        var plain = Measurements.PlainLoop(data, CreateModule, epochs, options.BatchSize, options.Threads, options.Seed);
        LeNetBenchmark.Print("plain loop", plain, "setup+loop");
        var pipeline = Measurements.Pipeline(source, SmallVgg.Architecture, epochs, options.BatchSize, options.Threads, options.Seed);
        LeNetBenchmark.Print("pipeline  ", pipeline, "Fit");

        var result = new ChildResult(plain.TrainImagesPerSecond, (double)plain.Stats.MinorFaults / plain.Images, plain.Stats.SystemSeconds,
            pipeline.TrainImagesPerSecond, pipeline.TotalImagesPerSecond, AllocatorProbe.LibraryTuningApplied(), AllocatorProbe.LargeBlockSource(),
            Math.Max(plain.Stats.OtherCores(plain.TotalSeconds), pipeline.Stats.OtherCores(pipeline.TotalSeconds)), AllocatorProbe.PeakResidentMiB());
        Console.WriteLine(result.Format());
        return 0;
    }
}

/// <summary>What a malloc-mode child reports, on one line its parent parses.</summary>
internal sealed record ChildResult(
    double PlainImagesPerSecond, double PlainFaultsPerImage, double PlainSystemSeconds,
    double PipelineTrainImagesPerSecond, double PipelineFitImagesPerSecond, string MalloptApplied,
    string LargeBlockSource, double OtherCores, double PeakResidentMiB)
{
    public const string Prefix = "RESULT ";

    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"{Prefix}{PlainImagesPerSecond:R} {PlainFaultsPerImage:R} {PlainSystemSeconds:R} "
        + $"{PipelineTrainImagesPerSecond:R} {PipelineFitImagesPerSecond:R} {MalloptApplied} {LargeBlockSource} "
        + $"{OtherCores:R} {PeakResidentMiB:R}");

    public static ChildResult Parse(string line)
    {
        var p = line[Prefix.Length..].Split(' ');
        double D(int i) => double.Parse(p[i], CultureInfo.InvariantCulture);
        return new ChildResult(D(0), D(1), D(2), D(3), D(4), p[5], p[6], D(7), D(8));
    }
}
