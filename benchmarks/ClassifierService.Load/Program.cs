// Load generator for examples/ClassifierService, loopback only and bounded in requests and time.
//
//   dotnet run --project benchmarks/ClassifierService.Load -c Release -- [options]
//     --model <zip>          the model to serve (default ./output/model.zip, the main example's)
//     --images <folder>      images to post, any depth (default the embedded test digits)
//     --resize N             post them as N×N JPEGs (quality 90), made once before the run
//     --engines E,E          libtorch,onnx (default both)
//     --clients N,N          concurrent clients per phase (default 1,8,32)
//     --requests N           requests per phase, after --warmup N (default 3000, warm-up 200)
//     --seconds S            at most this long per phase (default 60)
//     --threads N,N          --scoring-threads of the service, one run per value (default 1)
//     --swap-every S         instead of the phases: one run of --requests at the largest --clients while the model
//                            file is replaced every S seconds (alternately by --swap-with and the original)
//     --swap-with <zip>      the other model of the swap run (default the same model's bytes, rewritten)
//     --in-process N         also time the engine in a plain in-process loop for N images per thread count (default 3000)
//     --rounds N             repeat everything N times, engines alternating, and print the medians (default 1)
//
// Every client posts the image bytes as the body (image/png or image/jpeg by extension) and counts a request as an
// error unless it gets 200 with a classification. Resident memory is the service process's VmRSS.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using ClassifierService;
using ClassifierService.Load;

var options = LoadOptions.Parse(args);
if (options is null)
    return 2;
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
Console.WriteLine($"CPU: {MachineInfo.CpuName()}, {Environment.ProcessorCount} cores; load average at start {MachineInfo.LoadAverage()}");
var files = Directory.EnumerateFiles(options.ImageFolder, "*.*", SearchOption.AllDirectories)
    .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
    .Order(StringComparer.Ordinal).ToArray();
using var resized = options.Resize is { } side ? new ResizedImages(files, side) : null;
var images = (resized?.Paths ?? files).Select(f => new Upload(f, File.ReadAllBytes(f))).ToArray();
string resizedTo = resized is null ? "" : $", as {options.Resize}×{options.Resize} JPEGs";
Console.WriteLine($"{images.Length} images from {options.ImageFolder}{resizedTo}; model {options.ModelPath}");
if (images.Length == 0)
    return 1;

var rows = new List<(int Round, ScoringEngine Engine, int Threads, LoadResult Result)>();
var loops = new List<(int Round, ScoringEngine Engine, int Threads, InProcessResult Result)>();
for (int round = 1; round <= options.Rounds; round++)
{
    Console.WriteLine();
    Console.WriteLine($"Round {round} of {options.Rounds}");
    Console.WriteLine(LoadResult.Header);
    // Engines alternate within a round, so that another process's load falls on both alike.
    foreach (var engine in options.Engines)
    {
        foreach (int threads in options.ScoringThreads)
        {
            await using var service = await ServiceProcess.StartAsync(options, engine, threads);
            foreach (int clients in options.SwapEvery is null ? options.Clients : [options.Clients.Max()])
            {
                var result = await LoadRun.RunAsync(service, images, clients, options.Requests, options.Warmup, options.Seconds, options.SwapEvery);
                rows.Add((round, engine, threads, result));
                Console.WriteLine(result.Row(engine, threads));
            }
        }
        if (options.InProcess > 0 && options.SwapEvery is null)
        {
            foreach (int scoringThreads in options.ScoringThreads)
            {
                foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
                {
                    var loop = InProcessLoop.Run(options, engine, images, threads, scoringThreads);
                    loops.Add((round, engine, scoringThreads, loop));
                    Console.WriteLine($"  in-process loop: {loop}");
                }
            }
        }
    }
}

if (options.Rounds > 1)
{
    Console.WriteLine();
    Console.WriteLine($"Medians of {options.Rounds} rounds (errors: the sum):");
    Console.WriteLine(LoadResult.Header);
    foreach (var group in rows.GroupBy(r => (r.Engine, r.Threads, r.Result.Clients)))
        Console.WriteLine(LoadResult.Median([.. group.Select(g => g.Result)]).Row(group.Key.Engine, group.Key.Threads));
}
if (loops.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine("In-process loop (ScoringModel.Classify on the image files from 1 or all-cores threads: the engine and its pool,");
    Console.WriteLine($"no HTTP, no upload checks), medians of {options.Rounds} rounds, against the service's best throughput with the same");
    Console.WriteLine("scoring threads (the median over rounds of its best client count):");
    Console.WriteLine("| engine | scoring threads | loop threads | images/s | p50 ms | p99 ms | service best req/s | service ÷ loop |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var group in loops.GroupBy(l => (l.Engine, l.Threads, l.Result.Threads)))
    {
        double perSecond = Median(group.Select(g => g.Result.PerSecond));
        double serviceBest = rows.Where(r => r.Engine == group.Key.Engine && r.Threads == group.Key.Item2).GroupBy(r => r.Result.Clients)
            .Max(g => Median(g.Select(r => r.Result.Requests / r.Result.Seconds)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {group.Key.Engine.ToString().ToLowerInvariant()} | {group.Key.Item2} | {group.Key.Item3} | {perSecond:F0} | " +
            $"{Median(group.Select(g => g.Result.P50)):F2} | {Median(group.Select(g => g.Result.P99)):F2} | " +
            $"{serviceBest:F0} | {serviceBest / perSecond:P0} |"));
    }
}
Console.WriteLine();
Console.WriteLine($"load average at end {MachineInfo.LoadAverage()}");
return 0;

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

namespace ClassifierService.Load
{
    internal sealed record Upload(string Path, byte[] Bytes)
    {
        public MediaTypeHeaderValue ContentType { get; } =
            new(Path.EndsWith(".png", StringComparison.OrdinalIgnoreCase) ? "image/png" : "image/jpeg");
    }

    /// <summary>The images as N×N JPEGs in a temporary folder (deleted on disposal): photos of a network's input size.</summary>
    internal sealed class ResizedImages : IDisposable
    {
        private readonly string _folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-load-images-" + Guid.NewGuid().ToString("N"));

        public ResizedImages(IReadOnlyList<string> files, int side)
        {
            Directory.CreateDirectory(_folder);
            Paths = [.. files.Select((file, i) =>
            {
                using var bitmap = SkiaSharp.SKBitmap.Decode(file) ?? throw new InvalidDataException($"{file} does not decode");
                var sampling = new SkiaSharp.SKSamplingOptions(SkiaSharp.SKCubicResampler.Mitchell);
                using var scaled = bitmap.Resize(new SkiaSharp.SKImageInfo(side, side), sampling);
                using var image = SkiaSharp.SKImage.FromBitmap(scaled);
                using var jpeg = image.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90);
                string path = Path.Combine(_folder, $"{i:D5}.jpg");
                File.WriteAllBytes(path, jpeg.ToArray());
                return path;
            })];
        }

        public IReadOnlyList<string> Paths { get; }

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }

    internal sealed record LoadOptions(string ModelPath, string ImageFolder, ScoringEngine[] Engines, int[] Clients, int Requests,
        int Warmup, double Seconds, int[] ScoringThreads, double? SwapEvery, string? SwapWith, int InProcess, int Rounds, int? Resize)
    {
        public static LoadOptions? Parse(string[] args)
        {
            var o = new LoadOptions(Path.Combine(Directory.GetCurrentDirectory(), "output", "model.zip"),
                Path.Combine(Directory.GetCurrentDirectory(), "examples", "MnistFromFolders", "data", "test"),
                [ScoringEngine.LibTorch, ScoringEngine.Onnx], [1, 8, 32], 3000, 200, 60, [1], null, null, 3000, 1, null);
            try
            {
                for (int i = 0; i < args.Length; i += 2)
                {
                    string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
                    o = args[i] switch
                    {
                        "--model" => o with { ModelPath = value },
                        "--images" => o with { ImageFolder = value },
                        "--engines" => o with { Engines = [.. value.Split(',').Select(e => Enum.Parse<ScoringEngine>(e, ignoreCase: true))] },
                        "--clients" => o with { Clients = Numbers(value, 1, 256) },
                        "--requests" => o with { Requests = Numbers(value, 1, 1_000_000)[0] },
                        "--warmup" => o with { Warmup = Numbers(value, 0, 100_000)[0] },
                        "--seconds" => o with { Seconds = Numbers(value, 1, 3600)[0] },
                        "--threads" => o with { ScoringThreads = Numbers(value, 1, Environment.ProcessorCount) },
                        "--swap-every" => o with { SwapEvery = Numbers(value, 1, 3600)[0] },
                        "--swap-with" => o with { SwapWith = value },
                        "--in-process" => o with { InProcess = Numbers(value, 0, 1_000_000)[0] },
                        "--rounds" => o with { Rounds = Numbers(value, 1, 20)[0] },
                        "--resize" => o with { Resize = Numbers(value, 8, 4096)[0] },
                        _ => throw new ArgumentException($"unknown option {args[i]}"),
                    };
                }
                if (!File.Exists(o.ModelPath))
                    throw new ArgumentException($"no model at {o.ModelPath}: dotnet run --project examples/MnistFromFolders -c Release");
                return o;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"error: {e.Message} (the options are at the top of Program.cs)");
                return null;
            }
        }

        private static int[] Numbers(string text, int min, int max)
        {
            var numbers = text.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
            return numbers.All(n => n >= min && n <= max) ? numbers : throw new ArgumentException($"'{text}': each from {min} to {max}");
        }
    }

    /// <summary>The service as its own process (dotnet ClassifierService.dll) on a free loopback port, on a copy of the model.</summary>
    internal sealed class ServiceProcess : IAsyncDisposable
    {
        private readonly Process _process;

        private ServiceProcess(Process process, Uri address, string folder, string watched, HttpClient client)
        {
            _process = process;
            Address = address;
            Folder = folder;
            WatchedPath = watched;
            Client = client;
        }

        public Uri Address { get; }

        public string Folder { get; }

        public string WatchedPath { get; }

        public HttpClient Client { get; }

        public int Pid => _process.Id;

        private StreamWriter? Log { get; init; }

        public byte[] OriginalModel { get; private set; } = [];

        public byte[] SwapModel { get; private set; } = [];

        public static async Task<ServiceProcess> StartAsync(LoadOptions options, ScoringEngine engine, int threads)
        {
            string folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-load-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(folder);
            string model = Path.Combine(folder, "model.zip");
            File.Copy(options.ModelPath, model);
            int port = FreePort();
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList =
                {
                    Path.Combine(AppContext.BaseDirectory, "ClassifierService.dll"), "--model", model, "--engine", engine.ToString(),
                    "--scoring-threads", threads.ToString(CultureInfo.InvariantCulture), "--urls", $"http://127.0.0.1:{port}",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
            // The service's log goes to a file, kept (and named on the console) when it logged a failure.
            var log = new StreamWriter(Path.Combine(folder, "service.log")) { AutoFlush = true };
            void Write(string? line)
            {
                if (line is null)
                    return;
                lock (log)
                    log.WriteLine(line);
            }
            process.OutputDataReceived += (_, e) => Write(e.Data);
            process.ErrorDataReceived += (_, e) => Write(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
            var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
            var service = new ServiceProcess(process, client.BaseAddress, folder, model, client)
            {
                Log = log,
                OriginalModel = File.ReadAllBytes(options.ModelPath),
                SwapModel = File.ReadAllBytes(options.SwapWith ?? options.ModelPath),
            };
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"the service exited with code {process.ExitCode}");
                try
                {
                    using var health = await client.GetAsync(new Uri("/health", UriKind.Relative));
                    if (health.IsSuccessStatusCode)
                        return service;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                if (clock.Elapsed > TimeSpan.FromMinutes(3))
                    throw new TimeoutException("the service did not answer /health within 3 minutes");
                await Task.Delay(200);
            }
        }

        public double ResidentMegabytes() => MachineInfo.ResidentMegabytes(_process.Id);

        public double CpuSeconds() => MachineInfo.CpuSeconds(_process.Id);

        /// <summary>Replaces the model file as SaveAtomically does: written beside it, then renamed over it.</summary>
        public void Replace(byte[] bytes)
        {
            string temp = Path.Combine(Folder, Guid.NewGuid().ToString("N") + ".tmp");
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, WatchedPath, overwrite: true);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            if (!_process.HasExited)
            {
                // The run is over; the next service start removes the scratch folder this one leaves.
                _process.Kill(entireProcessTree: false);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            if (Log is not null)
            {
                lock (Log)
                    Log.Dispose();
                string logPath = Path.Combine(Folder, "service.log");
                if (File.ReadLines(logPath).Any(l => l.StartsWith("fail:", StringComparison.Ordinal)
                    || l.StartsWith("crit:", StringComparison.Ordinal)))
                {
                    string kept = Path.Combine(Path.GetTempPath(), $"classifier-service-{Path.GetFileName(Folder)}.log");
                    File.Copy(logPath, kept, overwrite: true);
                    Console.WriteLine($"  the service logged failures: {kept}");
                }
            }
            Directory.Delete(Folder, recursive: true);
        }

        private static int FreePort()
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
    }

    internal sealed record LoadResult(int Clients, int Requests, int Errors, double Seconds, double[] LatenciesMs,
        double RssStart, double RssEnd, int Swaps, double OtherCores, IReadOnlyList<string> ErrorSamples)
    {
        public const string Header = "| engine | threads | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | p99/p50 "
            + "| RSS start → end MB | swaps | other load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|";

        /// <summary>The round whose throughput is the median, its errors replaced by all rounds' sum.</summary>
        public static LoadResult Median(IReadOnlyList<LoadResult> rounds)
        {
            var median = rounds.OrderBy(r => r.Requests / r.Seconds).ElementAt(rounds.Count / 2);
            return median with { Errors = rounds.Sum(r => r.Errors), ErrorSamples = [.. rounds.SelectMany(r => r.ErrorSamples).Take(3)] };
        }

        public string Row(ScoringEngine engine, int threads)
        {
            string row = string.Create(CultureInfo.InvariantCulture,
                $"| {engine.ToString().ToLowerInvariant()} | {threads} | {Clients} | {Requests:N0} | {Errors} | {Requests / Seconds:F0} | " +
                $"{Percentile(0.50):F2} | {Percentile(0.95):F2} | {Percentile(0.99):F2} | {Percentile(0.99) / Percentile(0.50):F1} | " +
                $"{RssStart:F0} → {RssEnd:F0} | {Swaps} | {OtherCores:F2} |");
            return ErrorSamples.Count == 0 ? row : row + Environment.NewLine + "  errors, e.g.: " + string.Join("; ", ErrorSamples);
        }

        private double Percentile(double p)
            => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs[Math.Min(LatenciesMs.Length - 1, (int)(p * LatenciesMs.Length))];
    }

    internal static class LoadRun
    {
        /// <summary>
        /// <paramref name="warmup"/> requests, then <paramref name="requests"/> timed ones from <paramref name="clients"/>
        /// clients without pause, stopping early after <paramref name="seconds"/>; with <paramref name="swap"/>, the
        /// model file is replaced every that many seconds during the timed part.
        /// </summary>
        public static async Task<LoadResult> RunAsync(ServiceProcess service, Upload[] images, int clients, int requests, int warmup,
            double seconds, double? swap)
        {
            if (warmup > 0)
                await PostAllAsync(service, images, clients, warmup, TimeSpan.FromSeconds(seconds), null);
            double rssStart = service.ResidentMegabytes();
            var machineBefore = MachineInfo.MachineBusySeconds();
            double ownBefore = service.CpuSeconds() + Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            int swaps = 0;
            using var stopSwaps = new CancellationTokenSource();
            var swapping = swap is { } every ? Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(every), stopSwaps.Token);
                        service.Replace(swaps % 2 == 0 ? service.SwapModel : service.OriginalModel);
                        swaps++;
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }) : Task.CompletedTask;
            var clock = Stopwatch.StartNew();
            var (latencies, errors, samples, done) = await PostAllAsync(service, images, clients, requests, TimeSpan.FromSeconds(seconds), clock);
            double elapsed = clock.Elapsed.TotalSeconds;
            await stopSwaps.CancelAsync();
            await swapping;
            double own = service.CpuSeconds() + Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - ownBefore;
            double others = Math.Max(0, MachineInfo.MachineBusySeconds() - machineBefore - own) / elapsed;
            Array.Sort(latencies);
            if (swap is not null)
                await Task.Delay(TimeSpan.FromSeconds(3)); // the last replacement's load and check
            // Swaps the service took (its generation counts the models it has put in service), not only files written.
            using var health = System.Text.Json.JsonDocument.Parse(await service.Client.GetStringAsync(new Uri("/health", UriKind.Relative)));
            int taken = health.RootElement.GetProperty("swaps").GetInt32();
            if (taken != swaps)
                samples.Add($"{swaps} replacements written, {taken} taken by the service");
            return new LoadResult(clients, done, errors, elapsed, latencies, rssStart, service.ResidentMegabytes(), taken, others, samples);
        }

        private static async Task<(double[] Latencies, int Errors, List<string> Samples, int Done)> PostAllAsync(
            ServiceProcess service, Upload[] images, int clients, int requests, TimeSpan limit, Stopwatch? clock)
        {
            var latencies = new double[requests];
            int next = -1, errors = 0, done = 0;
            var samples = new List<string>();
            var deadline = Stopwatch.StartNew();
            async Task ClientAsync()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < requests && deadline.Elapsed < limit)
                {
                    var image = images[i % images.Length];
                    long start = Stopwatch.GetTimestamp();
                    string? error = null;
                    try
                    {
                        using var content = new ByteArrayContent(image.Bytes);
                        content.Headers.ContentType = image.ContentType;
                        using var response = await service.Client.PostAsync(new Uri("/classify", UriKind.Relative), content);
                        string body = await response.Content.ReadAsStringAsync();
                        bool complete = body.StartsWith("{\"label\":", StringComparison.Ordinal) && body.EndsWith("]}", StringComparison.Ordinal);
                        if (!response.IsSuccessStatusCode || !complete)
                            error = $"{(int)response.StatusCode} {body[..Math.Min(120, body.Length)]}";
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                    {
                        error = $"{e.GetType().Name}: {e.Message}";
                    }
                    latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    Interlocked.Increment(ref done);
                    if (error is not null)
                    {
                        Interlocked.Increment(ref errors);
                        lock (samples)
                        {
                            if (samples.Count < 3)
                                samples.Add(error);
                        }
                    }
                }
            }
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(ClientAsync)));
            return (latencies[..done], errors, samples, done);
        }
    }

    internal sealed record InProcessResult(int Threads, double PerSecond, double P50, double P99)
    {
        public override string ToString()
            => string.Create(CultureInfo.InvariantCulture, $"{Threads} threads, {PerSecond:F0} images/s, p50 {P50:F2} ms, p99 {P99:F2} ms");
    }

    internal static class InProcessLoop
    {
        /// <summary>The engine the service runs (its pool), scoring the image files from <paramref name="threads"/> threads.</summary>
        public static InProcessResult Run(LoadOptions options, ScoringEngine engine, Upload[] images, int threads, int scoringThreads)
        {
            var settings = new ServiceSettings
            {
                ModelPath = options.ModelPath, Engine = engine, ScoringThreads = scoringThreads, Concurrency = threads,
            };
            using var files = new ServiceFiles();
            var model = ModelLoading.LoadChecked(settings, files);
            try
            {
                int total = options.InProcess;
                for (int i = 0; i < Math.Min(options.Warmup, total); i++)
                    model.Classify(images[i % images.Length].Path);
                var latencies = new double[total];
                int next = -1;
                var clock = Stopwatch.StartNew();
                var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < total)
                    {
                        long start = Stopwatch.GetTimestamp();
                        model.Classify(images[i % images.Length].Path);
                        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                })).ToList();
                workers.ForEach(w => w.Start());
                workers.ForEach(w => w.Join());
                double seconds = clock.Elapsed.TotalSeconds;
                Array.Sort(latencies);
                return new InProcessResult(threads, total / seconds, latencies[total / 2], latencies[Math.Min(total - 1, (int)(0.99 * total))]);
            }
            finally
            {
                model.Release();
            }
        }
    }

    internal static class MachineInfo
    {
        private const double ClockTicksPerSecond = 100; // sysconf(_SC_CLK_TCK) on Linux

        public static string CpuName()
        {
            var lines = File.ReadLines("/proc/cpuinfo").Take(30).ToArray();
            string Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
            return $"{Field("model name")} (family {Field("cpu family")}, model {Field("model\t")})";
        }

        public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

        public static double ResidentMegabytes(int pid)
        {
            string? line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? double.NaN
                : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }

        public static double CpuSeconds(int pid)
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks / ClockTicksPerSecond;
        }

        /// <summary>Busy CPU seconds of the whole machine (all but idle and iowait), from /proc/stat.</summary>
        public static double MachineBusySeconds()
        {
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            return (cpu.Sum() - cpu[3] - cpu[4]) / ClockTicksPerSecond;
        }
    }
}
