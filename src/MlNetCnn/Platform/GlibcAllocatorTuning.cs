using System.Runtime.InteropServices;

namespace MlNetCnn.Platform;

/// <summary>
/// libtorch allocates and frees many large activation buffers per training step. With glibc's default dynamic mmap
/// threshold every such buffer becomes an mmap/munmap pair plus page faults; raising the thresholds keeps them in the
/// heap. Set <c>MLNETCNN_MALLOC_TUNING=0</c> to leave glibc's defaults alone.
/// </summary>
internal static partial class GlibcAllocatorTuning
{
    private const int MallocTrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int MallocMmapThreshold = -3; // M_MMAP_THRESHOLD

    /// <summary>Buffers below this size come from the heap instead of fresh mmap'd pages.</summary>
    internal const int MmapThresholdBytes = 256 << 20;

    /// <summary>Free heap memory above this size at the top of the heap is returned to the system.</summary>
    internal const int TrimThresholdBytes = 1 << 30;

    internal static bool Applied { get; private set; }

    internal static void Apply()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || Environment.GetEnvironmentVariable("MLNETCNN_MALLOC_TUNING") == "0")
            return;
        try
        {
            // mallopt returns 1 on success; on a non-glibc libc (musl) the entry point is missing.
            Applied = mallopt(MallocMmapThreshold, MmapThresholdBytes) == 1 && mallopt(MallocTrimThreshold, TrimThresholdBytes) == 1;
        }
        catch (EntryPointNotFoundException)
        {
        }
        catch (DllNotFoundException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int parameter, int value);
}
