using System.Runtime.Intrinsics.X86;

namespace MlNetCnn.Platform;

/// <summary>
/// Whether this CPU computes bfloat16 natively: AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake and Sapphire
/// Rapids) or AMX-BF16 (Intel Sapphire Rapids and later). There, libtorch's oneDNN convolutions in bfloat16 run at
/// about twice the float32 rate; elsewhere they are emulated, slower than float32.
/// </summary>
internal static class BFloat16Instructions
{
    private static readonly Lazy<bool> s_supported = new(Detect);

    /// <summary>True when the CPU has AVX512-BF16 or AMX-BF16 and the operating system enabled AVX-512 state.</summary>
    public static bool Supported => s_supported.Value;

    private static bool Detect()
    {
        // Avx512F.IsSupported also means the OS saves AVX-512 registers; CPUID alone would not tell.
        if (!X86Base.IsSupported || !Avx512F.IsSupported || X86Base.CpuId(0, 0).Eax < 7)
            return false;
        var leaf7 = X86Base.CpuId(7, 0);
        const int AmxBFloat16Bit = 22; // CPUID.(EAX=7,ECX=0):EDX
        const int Avx512BFloat16Bit = 5; // CPUID.(EAX=7,ECX=1):EAX
        if ((leaf7.Edx & (1 << AmxBFloat16Bit)) != 0)
            return true;
        return leaf7.Eax >= 1 && (X86Base.CpuId(7, 1).Eax & (1 << Avx512BFloat16Bit)) != 0;
    }
}
