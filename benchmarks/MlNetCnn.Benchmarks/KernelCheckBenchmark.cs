using System.Diagnostics;
using MlNetCnn.Platform;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// The kernel check as a process sees it: the verdict, where it came from and what start-up cost (EnsureInitialized,
/// which loads libtorch and reads or makes the verdict), then the probe's own compute time, repeated in this process
/// (--repeats, 3 by default).
/// .ci/run prints it (with --repeats 1), so every CI log names the CPU and the kernels its tests ran on.
/// </summary>
internal static class KernelCheckBenchmark
{
    public static int Run(TimeSpan startUp, int repeats)
    {
        var check = TorchRuntime.KernelCheck;
        Console.WriteLine(check);
        Console.WriteLine("start-up (EnsureInitialized: libtorch loaded, verdict " +
                          $"{(check.Source.StartsWith("cached", StringComparison.Ordinal) ? "read" : "made")}): " +
                          $"{startUp.TotalMilliseconds:F0} ms, of which the check {check.Duration.TotalMilliseconds:F0} ms");
        foreach (var d in check.Disagreements.Take(10))
            Console.WriteLine($"  {d}");
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            var disagreements = KernelProbe.Run(BFloat16Instructions.Supported && TorchRuntime.UseOneDnn);
            times.Add(clock.Elapsed.TotalMilliseconds);
            if (i == 0)
                Console.WriteLine("probe in this process "
                    + $"({(TorchRuntime.UseOneDnn ? "oneDNN" : "libtorch's own kernels")}): {disagreements.Count} "
                    + "disagreements");
        }
        Console.WriteLine($"probe compute time in this process, {repeats} runs: {string.Join(", ", times.Select(t => $"{t:F0} ms"))}");
        return 0;
    }
}
