using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using MlNetCnn.Platform;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Counters of this process from /proc/self/stat (minor page faults, user and system CPU time) and the busy CPU time of
/// the whole machine from /proc/stat, so that a run can tell how much CPU other processes took while it ran.
/// </summary>
internal readonly record struct ProcessStats(long MinorFaults, double UserSeconds, double SystemSeconds, double MachineBusySeconds)
{
    private const double ClockTicksPerSecond = 100; // sysconf(_SC_CLK_TCK) on Linux

    public static ProcessStats Read()
    {
        if (!OperatingSystem.IsLinux())
            return default;
        string stat = File.ReadAllText("/proc/self/stat");
        // Fields after the parenthesised command name start at field 3.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
        // "cpu user nice system idle iowait irq softirq steal ...": busy = all but idle and iowait.
        var machine = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        long busy = machine.Sum() - machine[3] - machine[4];
        return new ProcessStats(Field(10), Field(14) / ClockTicksPerSecond, Field(15) / ClockTicksPerSecond, busy / ClockTicksPerSecond);
    }

    public double CpuSeconds => UserSeconds + SystemSeconds;

    /// <summary>Average number of cores other processes kept busy over <paramref name="wallSeconds"/>.</summary>
    public double OtherCores(double wallSeconds) => Math.Max(0, MachineBusySeconds - CpuSeconds) / wallSeconds;

    public static ProcessStats operator -(ProcessStats a, ProcessStats b)
        => new(a.MinorFaults - b.MinorFaults, a.UserSeconds - b.UserSeconds, a.SystemSeconds - b.SystemSeconds,
            a.MachineBusySeconds - b.MachineBusySeconds);
}

/// <summary>What glibc's allocator is doing in this process.</summary>
internal static partial class AllocatorProbe
{
    /// <summary>MlNetCnn's own record of whether its mallopt call succeeded (an internal property, read by reflection).</summary>
    public static string LibraryTuningApplied()
    {
        var type = typeof(TorchRuntime).Assembly.GetType("MlNetCnn.Platform.GlibcAllocatorTuning");
        var property = type?.GetProperty("Applied", BindingFlags.NonPublic | BindingFlags.Static);
        return property?.GetValue(null) is bool applied ? (applied ? "yes" : "no") : "unknown";
    }

    /// <summary>
    /// Whether a 160 MiB malloc is served by mmap (glibc's default: anything above the dynamic mmap threshold, which
    /// never exceeds 32 MiB, that the free top of the heap, trimmed above at most 64 MiB, cannot hold) or from the heap
    /// (a raised mmap threshold, by mallopt or GLIBC_TUNABLES). Above 32 MiB the probe does not move the dynamic
    /// threshold, and it never touches the block's pages, so it leaves the allocator as it found it.
    /// </summary>
    public static string LargeBlockSource()
    {
        if (!OperatingSystem.IsLinux())
            return "n/a";
        try
        {
            nuint before = mallinfo2().hblks;
            nint block = malloc(160 << 20);
            nuint after = mallinfo2().hblks;
            free(block);
            return after > before ? "mmap" : "heap";
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return "n/a";
        }
    }

    /// <summary>Peak resident memory of this process (VmHWM), in MiB.</summary>
    public static double PeakResidentMiB()
    {
        if (!OperatingSystem.IsLinux())
            return 0;
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [LibraryImport("libc")]
    private static partial MallInfo2 mallinfo2();

    [LibraryImport("libc")]
    private static partial nint malloc(nuint size);

    [LibraryImport("libc")]
    private static partial void free(nint block);
}

/// <summary>
/// Waits, before a timed run, until other processes leave the cores alone: on a small machine libtorch's OpenMP
/// threads spin-wait for a core another process holds, and one busy neighbour can slow training several times over.
/// </summary>
internal static class QuietMachine
{
    /// <summary>Other processes' average CPU use, in cores, below which a one-second sample counts as quiet.</summary>
    public const double Threshold = 0.1;

    /// <summary>Other processes' average CPU use, in cores, above which a finished run counts as disturbed.</summary>
    public const double DisturbedAbove = 0.15;

    /// <summary>How often a disturbed measurement is repeated before it is kept anyway.</summary>
    public const int MaxRetries = 2;

    /// <summary>Seconds to wait at most; 0 measures at once.</summary>
    public static int MaxWaitSeconds { get; set; } = 30;

    public static void Wait()
    {
        if (MaxWaitSeconds <= 0 || !OperatingSystem.IsLinux())
            return;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double other = 0;
        while (clock.Elapsed.TotalSeconds < MaxWaitSeconds)
        {
            var before = ProcessStats.Read();
            var sample = System.Diagnostics.Stopwatch.StartNew();
            Thread.Sleep(1000);
            other = (ProcessStats.Read() - before).OtherCores(sample.Elapsed.TotalSeconds);
            if (other < Threshold)
            {
                if (clock.Elapsed.TotalSeconds > 1.5)
                    Console.WriteLine($"   (waited {clock.Elapsed.TotalSeconds:F0} s for other processes to leave the cores)");
                return;
            }
        }
        Console.WriteLine($"   (other processes still use {other:F2} cores after {MaxWaitSeconds} s: measuring anyway, expect disturbed figures)");
    }
}
