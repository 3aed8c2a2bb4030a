using System.Runtime.Intrinsics.X86;

namespace MlNetCnn.Platform;

/// <summary>
/// CPUID's description of the data caches, read as libtorch 2.10's oneDNN (v3.7.1) reads it to size its convolution
/// blocks. On AMD processors oneDNN takes the L1, L2 and L3 sizes from leaf 0x8000001D, subleaves 0, 2 and 3, and
/// divides each by the cores sharing it (leaf 0xB's counts). Some virtual machines return zeros there (Linux then lists
/// no caches in /sys/devices/system/cpu/cpu0/cache): oneDNN computes a 1-byte L1, its 1×1 convolution blocking picks
/// row blocks larger than the image and divides by zero (<c>brg_blocking_t::est_eff_1x1</c>, for 256→1,024,
/// 512→1,024, 512→2,048, 1,024→512 and 1,024→2,048 channels), and 1×1 convolutions to 512 channels in channels-last
/// memory compute wrong outputs (45% off) and corrupt the heap. Reproduced by writing those cache sizes into oneDNN's
/// CPU description on a sound machine: only the L1 size matters, and the faults start below 4 bytes per input channel.
/// Without leaf 0xB, oneDNN's CPU description itself divides by zero.
/// </summary>
internal static class CpuCacheDescription
{
    /// <summary>Below these per-core sizes oneDNN's blocking is outside anything it was tuned for; real x86 cores have
    /// 32 KiB and 256 KiB or more.</summary>
    internal const long SmallestL1 = 16 << 10, SmallestL2 = 128 << 10;

    /// <summary>Reads CPUID leaf and subleaf as (EAX, EBX, ECX, EDX).</summary>
    internal delegate (uint Eax, uint Ebx, uint Ecx, uint Edx) CpuIdReader(uint leaf, uint subleaf);

    /// <summary>Why oneDNN cannot size its kernels from this processor's description, or null when it can.</summary>
    public static string? UnusableReason() => X86Base.IsSupported ? UnusableReason(ReadCpuId) : null;

    /// <summary>The same, from the given CPUID values (tests give the values of the machines that failed).</summary>
    internal static string? UnusableReason(CpuIdReader cpuid)
    {
        var vendor = cpuid(0, 0);
        if (CpuIdentity.Vendor(vendor.Ebx, vendor.Ecx, vendor.Edx) != "AuthenticAMD")
            return null;
        if (vendor.Eax < 0xB)
            return $"CPUID reports no topology leaf 0xB (highest basic leaf 0x{vendor.Eax:x}), and oneDNN divides by the core count it reads there.";
        var (threadsPerCore, logicalPerPackage) = CoreCounts(cpuid);
        var l1 = Cache(cpuid, 0, threadsPerCore, logicalPerPackage);
        var l2 = Cache(cpuid, 2, threadsPerCore, logicalPerPackage);
        if (l1 is null)
            return "CPUID leaf 0x8000001D describes no L1 data cache (all zeros, as in some virtual machines), so "
                + "oneDNN sizes its convolution blocks for a 1-byte cache: they then compute wrong results or divide "
                + "by zero.";
        if (l1 < SmallestL1 || l2 is null || l2 < SmallestL2)
        {
            return $"CPUID leaf 0x8000001D describes {Size(l1)} of L1 and {Size(l2)} of L2 data cache per core, " +
                   $"below the {Size(SmallestL1)} and {Size(SmallestL2)} any x86 core has, " +
                   "so oneDNN would size its convolution blocks for caches that do not exist.";
        }
        return null;
    }

    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) ReadCpuId(uint leaf, uint subleaf)
    {
        var (a, b, c, d) = X86Base.CpuId(unchecked((int)leaf), unchecked((int)subleaf));
        return ((uint)a, (uint)b, (uint)c, (uint)d);
    }

    /// <summary>Threads per core and logical processors per package, from leaf 0xB's SMT (1) and core (2) levels, as oneDNN takes them.</summary>
    private static (uint ThreadsPerCore, uint LogicalPerPackage) CoreCounts(CpuIdReader cpuid)
    {
        uint threads = 0, logical = 0;
        for (uint sub = 0; sub < 2; sub++)
        {
            var (_, ebx, ecx, _) = cpuid(0xB, sub);
            uint level = (ecx >> 8) & 0xFF, count = ebx & 0xFFFF;
            if (level == 1)
                threads = count;
            else if (level == 2)
                logical = count;
        }
        threads = Math.Max(1, threads);
        return (threads, Math.Max(threads, logical));
    }

    /// <summary>Bytes per core of the cache in leaf 0x8000001D's subleaf, as oneDNN computes them; null when the
    /// subleaf describes no cache.</summary>
    private static long? Cache(CpuIdReader cpuid, uint subleaf, uint threadsPerCore, uint logicalPerPackage)
    {
        var (eax, ebx, ecx, _) = cpuid(0x8000001D, subleaf);
        if ((eax & 0x1F) == 0)
            return null;
        long ways = ((ebx >> 22) & 0x3FF) + 1, partitions = ((ebx >> 12) & 0x3FF) + 1, line = (ebx & 0xFFF) + 1;
        long bytes = ways * partitions * line * ((long)ecx + 1);
        uint sharing = Math.Min(((eax >> 14) & 0xFFF) + 1, logicalPerPackage) / threadsPerCore;
        return bytes / Math.Max(1, sharing);
    }

    private static string Size(long? bytes) => bytes is null ? "none" : bytes >= 1 << 10 ? $"{bytes >> 10} KiB" : $"{bytes} bytes";
}
