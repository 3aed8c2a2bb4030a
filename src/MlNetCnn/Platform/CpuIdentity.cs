using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using System.Text;

namespace MlNetCnn.Platform;

/// <summary>
/// What the kernel check's verdict depends on, read from CPUID without running any kernel: the processor's name,
/// family, model and stepping for people, and a fingerprint of every CPUID leaf that oneDNN reads to choose its kernels
/// (features, cache hierarchy, topology) for the verdict cache.
/// </summary>
internal static class CpuIdentity
{
    private static readonly Lazy<string> s_description = new(Describe);

    /// <summary>For example "AMD EPYC (AuthenticAMD family 26 model 2 stepping 1), 2 cores, AVX-512, AVX512-BF16".</summary>
    public static string Description => s_description.Value;

    private static string Describe()
    {
        string name = ProcessorName() ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        if (!X86Base.IsSupported)
            return $"{name}, {Environment.ProcessorCount} cores";
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        string vendor = Vendor((uint)ebx, (uint)ecx, (uint)edx);
        int signature = X86Base.CpuId(1, 0).Eax;
        int family = (signature >> 8) & 0xF, model = (signature >> 4) & 0xF;
        if (family == 0xF)
            family += (signature >> 20) & 0xFF;
        if (family >= 6)
            model += ((signature >> 16) & 0xF) << 4;
        string features = Avx512F.IsSupported ? "AVX-512" : Avx2.IsSupported ? "AVX2" : "no AVX2";
        if (BFloat16Instructions.Supported)
            features += ", AVX512-BF16";
        return $"{name} ({vendor} family {family} model {model} stepping {signature & 0xF}), {Environment.ProcessorCount} cores, {features}";
    }

    /// <summary>The vendor string of CPUID leaf 0 ("AuthenticAMD", "GenuineIntel"): EBX, EDX, ECX as ASCII.</summary>
    internal static string Vendor(uint ebx, uint ecx, uint edx)
        => Encoding.ASCII.GetString([.. BitConverter.GetBytes(ebx), .. BitConverter.GetBytes(edx), .. BitConverter.GetBytes(ecx)]);

    private static string? ProcessorName()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo"))
                return null;
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                ?.Split(':', 2)[1].Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// A hash of the CPUID leaves oneDNN reads (vendor, signature, feature flags, Intel's leaf 4 and AMD's 0x8000001D
    /// cache descriptions, the legacy cache leaves, topology), the core count and the environment variables that
    /// change oneDNN's choices. Two machines with the same fingerprint get the same kernels.
    /// </summary>
    public static string Fingerprint()
    {
        var text = new StringBuilder(Description).Append('|').Append(Environment.ProcessorCount);
        if (X86Base.IsSupported)
        {
            uint maxLeaf = (uint)X86Base.CpuId(0, 0).Eax, maxExtended = (uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax;
            foreach (uint leaf in new uint[] { 0, 1, 7, 0xB, 0xD })
                AppendLeaf(text, leaf, leaf == 7 ? 2 : leaf == 0xB ? 2 : 1, maxLeaf);
            AppendLeaf(text, 4, 6, maxLeaf);
            foreach (uint leaf in new uint[] { 0x80000001, 0x80000005, 0x80000006, 0x80000008, 0x8000001E })
                AppendLeaf(text, leaf, 1, maxExtended);
            AppendLeaf(text, 0x8000001D, 6, maxExtended);
        }
        foreach (string variable in new[] { "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_CPU_ISA_HINTS", "OMP_NUM_THREADS" })
            text.Append('|').Append(variable).Append('=').Append(Environment.GetEnvironmentVariable(variable));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16].ToLowerInvariant();
    }

    private static void AppendLeaf(StringBuilder text, uint leaf, int subleaves, uint maxLeaf)
    {
        if (leaf > maxLeaf && leaf < 0x80000000 || leaf >= 0x80000000 && leaf > maxLeaf)
            return;
        for (int sub = 0; sub < subleaves; sub++)
        {
            var (eax, ebx, ecx, edx) = X86Base.CpuId(unchecked((int)leaf), sub);
            // Leaf 1's EBX, 0xB's EDX and 0x8000001E's EAX, EBX and ECX name the core and node this thread runs on, which
            // differ between processes: only 0x8000001E's threads per core is kept.
            if (leaf == 1)
                ebx &= 0x00FFFFFF;
            if (leaf == 0xB)
                edx = 0;
            if (leaf == 0x8000001E)
                (eax, ebx, ecx) = (0, ebx & 0xFF00, 0);
            text.Append($"|{leaf:x}.{sub}:{eax:x8}{ebx:x8}{ecx:x8}{edx:x8}");
        }
    }
}
