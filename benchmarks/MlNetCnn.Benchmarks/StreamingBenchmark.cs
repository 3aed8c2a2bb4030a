using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// The trainer's data path on real JPG files (a class-balanced subset of an <c>root/&lt;label&gt;/&lt;image&gt;</c> folder,
/// e.g. the CIFAR-10 training JPGs), one part per --only name:
///   decode   — LoadImages → ResizeImages → ExtractPixels on one thread at 32, 112 and 224 px: images per CPU-second.
///   resnet18 — ResNet-18 at 3×112×112 (--size): training images/s from the in-memory cache vs streamed from the files,
///              alternating (cached, streamed, streamed, cached), and how often the batch queue was empty.
///   cifar    — ResNet9(32) at 3×32×32: an epoch from the compact byte cache vs the float cache, alternating.
///   memory   — ResNet-18 at 224×224 streamed from 30,000 JPGs (--images) through ResizeImages(224, 224): resident
///              memory every 10 s until the run is cancelled after --seconds (default 240).
/// </summary>
internal static class StreamingBenchmark
{
    public static IEnumerable<string> Run(BenchmarkOptions options)
    {
        string root = options.Data
            ?? throw new ArgumentException("streaming needs --data <root/<label>/<image> folder>, e.g. the CIFAR-10 "
                + "training JPGs extracted to /tmp.");
        var listing = ImageFolder.List(root);
        var parts = options.Only.Count > 0 ? options.Only : ["decode", "resnet18", "cifar"];
        var lines = new List<string> { $"data: {listing.Count} images under {root}; machine load at start: {LoadAverage()}" };
        foreach (string part in parts)
        {
            lines.AddRange(part switch
            {
                "decode" => Decode(listing, options),
                "resnet18" => ResNet18(listing, options),
                "cifar" => Cifar(listing, options),
                "memory" => Memory(listing, options),
                _ => throw new ArgumentException($"Unknown streaming part '{part}' (decode, resnet18, cifar, memory)."),
            });
            lines.Add($"   machine load after {part}: {LoadAverage()}");
        }
        return lines;
    }

    /// <summary>The first <paramref name="count"/> images of every class in turn, so any count is class-balanced.</summary>
    private static IReadOnlyList<ImageFolderRow> Subset(ImageFolderListing listing, int count)
    {
        var byClass = listing.GroupBy(r => r.Label).Select(g => g.ToList()).ToList();
        var rows = new List<ImageFolderRow>();
        for (int i = 0; rows.Count < count && byClass.Any(c => i < c.Count); i++)
        {
            foreach (var members in byClass)
            {
                if (i < members.Count && rows.Count < count)
                    rows.Add(members[i]);
            }
        }
        return rows;
    }

    private static IDataView Pixels(MLContext ml, IReadOnlyList<ImageFolderRow> rows, int size)
    {
        var listing = new ImageFolderDataView(rows);
        return ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", size, size))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Fit(listing).Transform(listing);
    }

    private static IEnumerable<string> Decode(ImageFolderListing listing, BenchmarkOptions options)
    {
        int count = options.Images ?? 2_000;
        var rows = Subset(listing, count);
        var ml = new MLContext(seed: 1);
        Console.WriteLine($"== decode: LoadImages → ResizeImages → ExtractPixels, {count} JPGs, one thread ==");
        var lines = new List<string>();
        foreach (int size in new[] { 32, 112, 224 })
        {
            var data = Pixels(ml, rows, size);
            var features = data.Schema["Features"];
            var before = ProcessStats.Read();
            var clock = Stopwatch.StartNew();
            using (var cursor = data.GetRowCursorSet([features], 1)[0])
            {
                var getter = cursor.GetGetter<VBuffer<float>>(features);
                VBuffer<float> buffer = default;
                while (cursor.MoveNext())
                    getter(ref buffer);
            }
            double wall = clock.Elapsed.TotalSeconds, cpu = (ProcessStats.Read() - before).CpuSeconds;
            string line = $"decode {size}×{size}: {count / cpu:F0} images per CPU-second ({count / wall:F0} images/s "
                + $"wall, {cpu / count * 1000:F2} ms CPU per image)";
            Console.WriteLine(line);
            lines.Add(line);
        }
        return lines;
    }

    private sealed record Result(string Mode, double ImagesPerSecond, double FitSeconds, string? Queue);

    private static Result Train(IDataView data, CnnTrainerOptions options, string mode)
    {
        var ml = new MLContext(seed: 1);
        string? queue = null;
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("the batch queue was empty", StringComparison.Ordinal))
                queue = e.Message[(e.Message.IndexOf("the batch queue", StringComparison.Ordinal))..].TrimEnd('.');
            if (e.Message.Contains("training images ", StringComparison.Ordinal))
                Console.WriteLine($"   {e.Message}");
        };
        var clock = Stopwatch.StartNew();
        using var model = new CnnTrainer(ml, options).Fit(data);
        var run = new Result(mode, model.TrainingHistory.Average(e => e.ImagesPerSecond), clock.Elapsed.TotalSeconds, queue);
        Console.WriteLine($"   {mode}: {run.ImagesPerSecond:F1} training images/s (Fit {run.FitSeconds:F0} s){(queue is null ? "" : $"; {queue}")}");
        return run;
    }

    /// <summary>Alternates the two modes (A B, then B A, ...) so drift in the machine's load hits both alike.</summary>
    private static List<Result> Alternate(Func<bool, Result> measure, int repeats)
    {
        var runs = new List<Result>();
        for (int r = 0; r < repeats; r++)
        {
            bool firstIsA = r % 2 == 0;
            runs.Add(measure(firstIsA));
            runs.Add(measure(!firstIsA));
        }
        return runs;
    }

    private static IEnumerable<string> ResNet18(ImageFolderListing listing, BenchmarkOptions options)
    {
        int count = options.Images ?? 640, size = options.Size == 32 ? 112 : options.Size, repeats = options.Repeats ?? 2;
        var ml = new MLContext(seed: 1);
        var data = Pixels(ml, Subset(listing, count), size);
        Console.WriteLine($"== resnet18: ResNet-18 at 3×{size}×{size}, {count} JPGs, batch {options.BatchSize}, 1 "
            + $"epoch per run, {options.Threads} torch threads, cached vs streamed ==");
        CnnTrainerOptions Options(DataCaching caching) => new()
        {
            Architecture = CnnArchitecture.ResNet18, Epochs = 1, BatchSize = options.BatchSize, Seed = options.Seed,
            NumberOfThreads = options.Threads, DataCaching = caching, ProgressInterval = 1_000_000,
        };
        var runs = Alternate(cached => cached ? Train(data, Options(DataCaching.InMemory), "cached")
            : Train(data, Options(DataCaching.Streaming), "streamed"), repeats);
        double cachedRate = runs.Where(r => r.Mode == "cached").Average(r => r.ImagesPerSecond);
        double streamedRate = runs.Where(r => r.Mode == "streamed").Average(r => r.ImagesPerSecond);
        var queues = runs.Where(r => r.Queue != null).Select(r => r.Queue!);
        return
        [
            $"resnet18 3×{size}×{size}, {count} JPGs, batch {options.BatchSize}: cached {cachedRate:F2} vs streamed " +
            $"{streamedRate:F2} training images/s: ratio {streamedRate / cachedRate:F3} " +
            $"(per run: {string.Join(", ", runs.Select(r => $"{r.Mode} {r.ImagesPerSecond:F2}"))})",
            $"   streamed runs: {string.Join(" | ", queues)}",
        ];
    }

    private static IEnumerable<string> Cifar(ImageFolderListing listing, BenchmarkOptions options)
    {
        int count = options.Images ?? 5_000, repeats = options.Repeats ?? 2, batch = 256;
        var ml = new MLContext(seed: 1);
        var data = Pixels(ml, Subset(listing, count), 32);
        Console.WriteLine($"== cifar: ResNet9(32) at 3×32×32, {count} JPGs, batch {batch}, 1 epoch per run, byte cache vs float cache ==");
        CnnTrainerOptions Options(bool floats) => new()
        {
            Architecture = CnnArchitecture.ResNet9(32), Epochs = 1, BatchSize = batch, Seed = options.Seed, NumberOfThreads = options.Threads,
            DataCaching = DataCaching.InMemory, CacheAsFloats = floats, Optimizer = CnnOptimizer.Sgd, Nesterov = true, LearningRate = 0.4,
            LearningRateSchedule = LearningRateSchedule.OneCycle(), ProgressInterval = 1_000_000,
        };
        var runs = Alternate(floats => floats ? Train(data, Options(true), "float") : Train(data, Options(false), "bytes"), repeats);
        double floatRate = runs.Where(r => r.Mode == "float").Average(r => r.ImagesPerSecond);
        double byteRate = runs.Where(r => r.Mode == "bytes").Average(r => r.ImagesPerSecond);
        return [$"cifar ResNet9(32), {count} JPGs: float cache {floatRate:F1} vs byte cache {byteRate:F1} training " +
                $"images/s: ratio {byteRate / floatRate:F3} " +
                $"(per run: {string.Join(", ", runs.Select(r => $"{r.Mode} {r.ImagesPerSecond:F1}"))})"];
    }

    private static IEnumerable<string> Memory(ImageFolderListing listing, BenchmarkOptions options)
    {
        int count = options.Images ?? 30_000, seconds = (int)(options.Seconds ?? 240), size = options.Size == 32 ? 224 : options.Size;
        int batch = options.BatchSize;
        var ml = new MLContext(seed: 1);
        var data = Pixels(ml, Subset(listing, count), size);
        Console.WriteLine($"== memory: ResNet-18 at 3×{size}×{size} streamed from {count} JPGs, batch {batch}, cancelled after {seconds} s ==");
        long floatBytes = (long)count * 3 * size * size * sizeof(float);
        var samples = new List<string>();
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        int batches = 0;
        var options2 = new CnnTrainerOptions
        {
            Architecture = CnnArchitecture.ResNet18, Epochs = 1, BatchSize = batch, Seed = options.Seed, NumberOfThreads = options.Threads,
            DataCaching = DataCaching.Streaming, StandardizeInputs = false, CancellationToken = cancellation.Token, ProgressInterval = 1,
            Progress = new SynchronousProgress<TrainingProgress>(_ => Interlocked.Increment(ref batches)),
        };
        long startRss = Status("VmRSS");
        var clock = Stopwatch.StartNew();
        using var sampler = new Timer(_ =>
        {
            string sample = $"{clock.Elapsed.TotalSeconds:F0} s: {Status("VmRSS") >> 20} MB ({Volatile.Read(ref batches)} batches)";
            lock (samples)
                samples.Add(sample);
            Console.WriteLine($"   {sample}");
        }, null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
        string outcome;
        try
        {
            using var model = new CnnTrainer(ml, options2).Fit(data);
            outcome = "finished";
        }
        catch (OperationCanceledException)
        {
            outcome = $"cancelled after {clock.Elapsed.TotalSeconds:F0} s";
        }
        sampler.Dispose();
        long peak = Status("VmHWM");
        lock (samples)
        {
            return
            [
                $"memory: ResNet-18 3×{size}×{size} streamed from {count} JPGs (as one float array: " +
                $"{floatBytes / 1e9:F1} GB), batch {batch}: peak resident {peak >> 20} MB " +
                $"(before Fit {startRss >> 20} MB), {batches} batches, {outcome}",
                $"   resident every 10 s: {string.Join("; ", samples)}",
            ];
        }
    }

    /// <summary>A figure from /proc/self/status in bytes (VmRSS now, VmHWM the peak); 0 off Linux.</summary>
    private static long Status(string field)
    {
        if (!OperatingSystem.IsLinux())
            return 0;
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(Regex.Match(line, @"\d+").Value, CultureInfo.InvariantCulture) * 1024;
    }

    private static string LoadAverage() => OperatingSystem.IsLinux() ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
