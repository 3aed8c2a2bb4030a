using System.Diagnostics;
using System.Runtime.Intrinsics.X86;

namespace MlNetCnn.Platform;

/// <summary>
/// Decides, once per process, which CPU kernels libtorch runs. In order: <c>MLNETCNN_ONEDNN</c> when set; CPUID's cache
/// description, which can rule oneDNN out without running it; the verdict cached for this machine; otherwise the probe
/// (<see cref="KernelProbe"/>) in a child process, where a kernel that traps (an uncatchable divide error) ends the
/// child and not the application, or in this process when no child can be started.
/// </summary>
internal static class KernelCheckRunner
{
    /// <summary>Set in the child process, which runs the probe itself instead of starting another child.</summary>
    internal const string ChildVariable = "MLNETCNN_KERNEL_CHECK_CHILD";

    /// <summary>Test hook for the child: the probe case whose fast result is made wrong (see <see cref="KernelProbe.InjectedFault"/>).</summary>
    internal const string FaultVariable = "MLNETCNN_KERNEL_CHECK_TEST_FAULT";

    private static readonly Lazy<KernelCheck> s_result = new(RunAndApply, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The verdict, running the check on first use; libtorch must be loaded.</summary>
    public static KernelCheck Result => s_result.Value;

    private static KernelCheck RunAndApply()
    {
        var clock = Stopwatch.StartNew();
        var verdict = Decide();
        var check = new KernelCheck(verdict.Outcome, verdict.UseOneDnn, verdict.Reason, verdict.Source, verdict.Disagreements, clock.Elapsed);
        OneDnnSwitch.Enabled = verdict.UseOneDnn;
        if (!verdict.UseOneDnn && verdict.Outcome is not (KernelCheckOutcome.Overridden or KernelCheckOutcome.NotRun))
            Console.Error.WriteLine(check.Warning());
        Trace.TraceInformation(check.ToString());
        return check;
    }

    private static string? Setting => Environment.GetEnvironmentVariable(OneDnnSwitch.EnvironmentVariable);

    private static Verdict Decide()
    {
        if (OneDnnSwitch.SetInCode)
        {
            return new(KernelCheckOutcome.Overridden, OneDnnSwitch.Enabled,
                "TorchRuntime.UseOneDnn was set in code; the check did not run.", "code", []);
        }
        if (Setting is "0" or "1")
        {
            return new(KernelCheckOutcome.Overridden, Setting == "1",
                $"{OneDnnSwitch.EnvironmentVariable}={Setting} decides; the check did not run.", "environment", []);
        }
        if (Environment.GetEnvironmentVariable(ChildVariable) == "1")
            return new(KernelCheckOutcome.NotRun, OneDnnSwitch.Enabled, "This is the kernel check's own probe process.", "child", []);
        if (!X86Base.IsSupported)
            return new(KernelCheckOutcome.NotRun, OneDnnSwitch.Enabled, "oneDNN's x86-64 kernels are not in use on this processor.", "CPUID", []);
        if (CpuCacheDescription.UnusableReason() is { } unusable)
            return new(KernelCheckOutcome.UnusableCacheDescription, false, unusable, "CPUID", []);
        string key = VerdictCache.Key();
        if (VerdictCache.TryRead(key, out var cached, out string path))
            return cached with { Source = $"cached in {path}" };
        var verdict = KernelCheckChild.TryRun() ?? KernelCheckChild.RunHere();
        if (verdict.Outcome is KernelCheckOutcome.Agreed or KernelCheckOutcome.Disagreed or KernelCheckOutcome.Crashed)
            VerdictCache.Write(key, verdict);
        return verdict;
    }
}

/// <summary>A verdict before it is applied: what was found, whether oneDNN may run, why, where it came from, what disagreed.</summary>
internal sealed record Verdict(KernelCheckOutcome Outcome, bool UseOneDnn, string Reason, string Source,
    IReadOnlyList<KernelDisagreement> Disagreements);
