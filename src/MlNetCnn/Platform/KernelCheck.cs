namespace MlNetCnn.Platform;

/// <summary>
/// The verdict of MlNetCnn's kernel check: whether libtorch's fast CPU kernels (oneDNN) compute the built-in networks'
/// layers right on this machine, and so which kernels run. MlNetCnn checks once per machine, before its first use of
/// libtorch in a process (training, scoring, loading weights or models), and keeps the verdict in a cache file; see
/// <see cref="TorchRuntime.KernelCheck"/>.
/// </summary>
public sealed class KernelCheck
{
    internal KernelCheck(KernelCheckOutcome outcome, bool usesOneDnn, string reason, string source,
        IReadOnlyList<KernelDisagreement> disagreements, TimeSpan duration)
    {
        Outcome = outcome;
        UsesOneDnn = usesOneDnn;
        Reason = reason;
        Source = source;
        Disagreements = disagreements;
        Duration = duration;
    }

    /// <summary>What the check found.</summary>
    public KernelCheckOutcome Outcome { get; }

    /// <summary>
    /// Whether the check left oneDNN on. When false, libtorch runs its own CPU kernels (slower, right); a later
    /// <see cref="TorchRuntime.UseOneDnn"/> assignment still wins.
    /// </summary>
    public bool UsesOneDnn { get; }

    /// <summary>The processor, as CPUID and the operating system name it: model, vendor, family, model number, cores, vector units.</summary>
    public string Cpu => CpuIdentity.Description;

    /// <summary>Why the check decided as it did, in a sentence.</summary>
    public string Reason { get; }

    /// <summary>Where the verdict came from: a child process, this process, the cache file (its path), or an environment variable.</summary>
    public string Source { get; }

    /// <summary>The layer results of the fast kernels that differed from the float64 reference by more than rounding.</summary>
    public IReadOnlyList<KernelDisagreement> Disagreements { get; }

    /// <summary>How long this process spent on the check (reading the cache, or running the probe).</summary>
    public TimeSpan Duration { get; }

    /// <summary>The kernels in use, in words.</summary>
    public string KernelsInUse => UsesOneDnn ? "oneDNN" : "libtorch's own CPU kernels (oneDNN off)";

    /// <summary>One line: the CPU, the kernels in use and why.</summary>
    public override string ToString() => $"Kernel check on {Cpu}: {KernelsInUse}. {Reason} ({Source}, {Duration.TotalMilliseconds:F0} ms)";

    /// <summary>The warning printed once when oneDNN is turned off: what disagreed, by how much, and how to override.</summary>
    internal string Warning()
    {
        var worst = Disagreements.OrderByDescending(d => double.IsNaN(d.RelativeError) ? double.MaxValue : d.RelativeError).Take(3);
        string details = Disagreements.Count == 0 ? "" : $" {Disagreements.Count} results disagreed, e.g. {string.Join("; ", worst)}.";
        return $"MlNetCnn warning: libtorch's oneDNN kernels are not trusted on this CPU ({Cpu}): {Reason}{details} " +
               "MlNetCnn turned oneDNN off for this process: results are right, convolutions 2 to 5 times slower. " +
               "Set MLNETCNN_ONEDNN=1 (or TorchRuntime.UseOneDnn = true) to use oneDNN anyway; delete " +
               $"{VerdictCache.Folder} to check again.";
    }
}

/// <summary>What the kernel check found (<see cref="KernelCheck.Outcome"/>).</summary>
public enum KernelCheckOutcome
{
    /// <summary>oneDNN's results matched the float64 reference within float32 (and bfloat16) rounding: oneDNN stays on.</summary>
    Agreed,

    /// <summary>Some results differed beyond rounding or were not finite: oneDNN is turned off.</summary>
    Disagreed,

    /// <summary>The probe's process ended abnormally (a kernel trapped, as oneDNN's divide error does) or did not
    /// finish: oneDNN is turned off.</summary>
    Crashed,

    /// <summary>
    /// CPUID describes a cache hierarchy that oneDNN cannot size its kernels for (seen in some virtual machines):
    /// oneDNN is turned off without running any kernel.
    /// </summary>
    UnusableCacheDescription,

    /// <summary><c>MLNETCNN_ONEDNN</c> is set to 0 or 1: the check does not run and the variable decides.</summary>
    Overridden,

    /// <summary>The check did not run (this is the check's own child process, or the CPU is not x86-64): oneDNN stays as libtorch set it.</summary>
    NotRun,
}
