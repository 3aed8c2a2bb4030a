using MlNetCnn.Platform;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// The kernel check: the probe finds a wrong fast path (injected, since this machine's kernels are right), a fresh
/// application turns oneDNN off when its probe child reports one or dies of a trap, keeps the verdict per machine, and
/// CPUID descriptions like the virtual machine's where oneDNN failed are ruled out without running a kernel.
/// </summary>
[Collection(nameof(OneDnnSwitchTests))]
public sealed class KernelCheckTests
{
    [Fact]
    public void TheKernelsInUseMatchFloat64OnEveryProbeShape()
    {
        var disagreements = KernelProbe.Run(BFloat16Instructions.Supported && TorchRuntime.UseOneDnn);
        Assert.True(disagreements.Count == 0, string.Join("; ", disagreements));
        Assert.Contains(TorchRuntime.KernelCheck.Outcome, new[] { KernelCheckOutcome.Agreed, KernelCheckOutcome.Disagreed,
            KernelCheckOutcome.Crashed, KernelCheckOutcome.UnusableCacheDescription, KernelCheckOutcome.Overridden });
    }

    [Theory]
    [InlineData("ResNet 3x3 64->64", 1.01, 1e-2)]
    [InlineData("GoogLeNet 5x5", 1 + 3e-4, 3e-4)]
    public void AnInjectedWrongFastPathIsFoundWithItsError(string caseName, double factor, double expectedError)
    {
        KernelProbe.InjectedFault = (caseName, t => t * factor);
        try
        {
            var disagreements = KernelProbe.Run(bfloat16: false);
            Assert.NotEmpty(disagreements);
            Assert.All(disagreements, d => Assert.Contains(caseName, d.What));
            // Output and both gradients, in both layouts.
            Assert.Equal(6, disagreements.Count);
            Assert.All(disagreements, d => Assert.InRange(d.RelativeError, expectedError * 0.9, expectedError * 1.1));
        }
        finally
        {
            KernelProbe.InjectedFault = null;
        }
    }

    [Fact]
    public void ANonFiniteFastResultIsADisagreement()
    {
        KernelProbe.InjectedFault = ("batch norm", t => t * double.NaN);
        try
        {
            var disagreements = KernelProbe.Run(bfloat16: false);
            Assert.NotEmpty(disagreements);
            Assert.All(disagreements, d => Assert.True(double.IsNaN(d.RelativeError)));
            Assert.Contains("non-finite", disagreements[0].ToString());
        }
        finally
        {
            KernelProbe.InjectedFault = null;
        }
    }

    [Fact]
    public void AnApplicationTurnsOneDnnOffWhenItsProbeFindsAWrongKernelAndKeepsTheVerdict()
    {
        using var cache = new TempFolder();
        var first = RunApplication(cache.Path, ("MLNETCNN_KERNEL_CHECK_TEST_FAULT", "ResNet 3x3 128->128"));
        Assert.True(first.Output.Contains("outcome Disagreed"), first.Output + first.Errors);
        Assert.Contains("oneDNN False", first.Output);
        Assert.Contains("source a child process", first.Output);
        Assert.Contains("disagreement ResNet 3x3 128->128 planar float32 output: off by 1.0E-001", first.Output);
        // One warning, naming the CPU, what disagreed and by how much, and how to override.
        Assert.Single(first.Errors.Split('\n'), l => l.StartsWith("MlNetCnn warning", StringComparison.Ordinal));
        Assert.Contains(CpuIdentity.Description, first.Errors);
        Assert.Contains("ResNet 3x3 128->128", first.Errors);
        Assert.Contains("MLNETCNN_ONEDNN=1", first.Errors);
        Assert.Contains("libtorch's own kernels matched float64 on every shape", first.Output);

        // The next process reads the verdict instead of probing again (the fault variable is gone: only the cache can say it).
        var second = RunApplication(cache.Path);
        Assert.Contains("outcome Disagreed", second.Output);
        Assert.Contains("oneDNN False", second.Output);
        Assert.Contains("source cached in " + cache.Path, second.Output);

        var overridden = RunApplication(cache.Path, ("MLNETCNN_ONEDNN", "1"));
        Assert.Contains("outcome Overridden", overridden.Output);
        Assert.Contains("oneDNN True", overridden.Output);
        Assert.DoesNotContain("MlNetCnn warning", overridden.Errors);
    }

    [LinuxFact]
    public void AProbeThatDiesOfADivideErrorLeavesTheApplicationRunningWithOneDnnOff()
    {
        using var cache = new TempFolder();
        var run = RunApplication(cache.Path, ("MLNETCNN_KERNEL_CHECK_TEST_FAULT", "SIGFPE"));
        Assert.Contains("outcome Crashed", run.Output);
        Assert.Contains("oneDNN False", run.Output);
        Assert.Contains("killed by signal 8 (SIGFPE", run.Output);
        Assert.Contains("MlNetCnn warning", run.Errors);
    }

    [Fact]
    public void AnApplicationOnAMachineWhoseProbeAgreesKeepsOneDnn()
    {
        if (!TorchRuntime.KernelCheck.UsesOneDnn)
            return; // This machine's own verdict is that oneDNN is wrong here: the other tests cover that case.
        using var cache = new TempFolder();
        var run = RunApplication(cache.Path);
        Assert.Contains("outcome Agreed", run.Output);
        Assert.Contains("oneDNN True", run.Output);
        Assert.DoesNotContain("MlNetCnn warning", run.Errors);
        Assert.Single(Directory.GetFiles(cache.Path, "*.txt"));
    }

    [Fact]
    public void ADamagedVerdictFileIsCheckedAgain()
    {
        using var cache = new TempFolder();
        string key;
        var previous = Environment.GetEnvironmentVariable(VerdictCache.FolderVariable);
        Environment.SetEnvironmentVariable(VerdictCache.FolderVariable, cache.Path);
        try
        {
            key = VerdictCache.Key();
            File.WriteAllText(Path.Combine(cache.Path, key + ".txt"), "Sometimes\n");
            Assert.False(VerdictCache.TryRead(key, out _, out _));
            VerdictCache.Write(key, new Verdict(KernelCheckOutcome.Disagreed, false, "a reason", "test",
                [new KernelDisagreement("ResNet 3x3 64->64 planar float32 output", 0.25, 1e-4)]));
            Assert.True(VerdictCache.TryRead(key, out var verdict, out _));
            Assert.Equal(KernelCheckOutcome.Disagreed, verdict.Outcome);
            Assert.False(verdict.UseOneDnn);
            Assert.Equal(0.25, Assert.Single(verdict.Disagreements).RelativeError);
        }
        finally
        {
            Environment.SetEnvironmentVariable(VerdictCache.FolderVariable, previous);
        }
        Assert.Empty(Directory.GetFiles(cache.Path, "*.tmp"));
    }

    // CPUID names the core a thread runs on in several leaves; a fingerprint that kept them gave each process a verdict
    // file of its own half the time.
    [LinuxFact]
    public void TheMachineFingerprintIsTheSameOnEveryCore()
    {
        var fingerprints = new string[Environment.ProcessorCount];
        for (int cpu = 0; cpu < fingerprints.Length; cpu++)
        {
            int core = cpu;
            var thread = new Thread(() =>
            {
                ulong mask = 1UL << core;
                Assert.Equal(0, Affinity.SchedSetAffinity(0, sizeof(ulong), ref mask));
                fingerprints[core] = CpuIdentity.Fingerprint();
            });
            thread.Start();
            thread.Join();
        }
        Assert.Single(fingerprints.Distinct());
    }

    // The CPUID values of the virtual machine where oneDNN computed wrong logits and trapped (leaf 0x8000001D all
    // zeros, so Linux listed no caches), of this project's sound family-26 machine, and of a cache-less variant.
    [Fact]
    public void ACpuIdWithoutAnL1DescriptionIsRuledOutWithoutRunningAKernel()
    {
        var reason = CpuCacheDescription.UnusableReason(Zen5(l1: (0, 0, 0)));
        Assert.NotNull(reason);
        Assert.Contains("no L1 data cache", reason);
    }

    [Fact]
    public void ASoundCpuIdDescriptionIsAccepted()
        => Assert.Null(CpuCacheDescription.UnusableReason(Zen5(l1: (0x00000121, 0x02c0003f, 0x0000003f))));

    [Fact]
    public void AnImplausiblySmallL1IsRuledOut()
    {
        // 8 ways × 1 partition × 64-byte lines × 2 sets: 1 KiB, below what oneDNN's 1×1 blocking needs for 512 channels.
        var reason = CpuCacheDescription.UnusableReason(Zen5(l1: (0x00000121, 0x01c0003f, 0x00000001)));
        Assert.NotNull(reason);
        Assert.Contains("1 KiB of L1", reason);
    }

    [Fact]
    public void AnIntelCpuIdIsLeftToTheProbe()
    {
        CpuCacheDescription.CpuIdReader intel = (leaf, _) => leaf == 0 ? (0x20u, 0x756e6547u, 0x6c65746eu, 0x49656e69u) : (0u, 0u, 0u, 0u);
        Assert.Null(CpuCacheDescription.UnusableReason(intel));
    }

    private static CpuCacheDescription.CpuIdReader Zen5((uint Eax, uint Ebx, uint Ecx) l1) => (leaf, subleaf) => (leaf, subleaf) switch
    {
        (0, _) => (0x10, 0x68747541, 0x444d4163, 0x69746e65), // AuthenticAMD, highest basic leaf 0x10
        (0xB, 0) => (0, 1, 0x100, 0),
        (0xB, 1) => (5, 2, 0x201, 0),
        (0x8000001D, 0) => (l1.Eax, l1.Ebx, l1.Ecx, 0),
        (0x8000001D, 2) => (0x143, 0x03c0003f, 0x3ff, 2),
        (0x8000001D, 3) => (0x4163, 0x03c0003f, 0x7fff, 1),
        _ => (0, 0, 0, 0),
    };

    private static (string Output, string Errors) RunApplication(string cacheFolder, params (string Name, string Value)[] environment)
        => ModelLoadProbeApp.Run(["kernel-check"],
            [("MLNETCNN_ONEDNN", null), (VerdictCache.FolderVariable, cacheFolder), .. environment.Select(e => (e.Name, (string?)e.Value))]);
}

internal static partial class Affinity
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "sched_setaffinity")]
    public static partial int SchedSetAffinity(int pid, nint size, ref ulong mask);
}
