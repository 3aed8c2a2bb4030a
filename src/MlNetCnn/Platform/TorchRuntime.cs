using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MlNetCnn.Platform;

/// <summary>
/// Prepares the process before any MlNetCnn code runs (a module initializer: also when ML.NET's Model.Load is the first
/// to load MlNetCnn). For apps built without MlNetCnn's build targets (e.g. a ProjectReference from another repository)
/// it applies the same fix to the files next to the app, unless the build turned it off: makes the native TorchSharp
/// library loadable on GCC-12 systems. It also tunes glibc's allocator for libtorch's large buffers.
/// </summary>
public static class TorchRuntime
{
    /// <summary>AppContext switch that MlNetCnn's build targets write into runtimeconfig.json for -p:MlNetCnnPatchLibTorchSharp=false.</summary>
    internal const string PatchLibTorchSharpSwitch = "MlNetCnn.PatchLibTorchSharp";

    private static Exception? s_loadError;

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries",
        Justification = "The native library must be fixed before TorchSharp's static constructor loads it, whichever MlNetCnn type is used first.")]
    internal static void Initialize()
    {
        if (IsEnabled(PatchLibTorchSharpSwitch))
            PatchLibTorchSharp();
        GlibcAllocatorTuning.Apply();
    }

    /// <summary>A fix is on unless the app's runtimeconfig.json turns it off (the build's opt-out property).</summary>
    internal static bool IsEnabled(string fixSwitch) => !AppContext.TryGetSwitch(fixSwitch, out bool enabled) || enabled;

    private static void PatchLibTorchSharp()
    {
        try
        {
            foreach (var path in FindLibTorchSharpCopies())
                ElfVersionPatcher.EnsureLoadable(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
        {
            // Reported by EnsureInitialized, where the caller can act on it, rather than as a TypeInitializationException.
            s_loadError = e;
        }
    }

    /// <summary>
    /// Loads TorchSharp's native libraries, or throws an <see cref="InvalidOperationException"/> that says what to do: when the
    /// application references no TorchSharp backend package, or when the native library could not be made loadable.
    /// MlNetCnn calls it before its first TorchSharp call; call it first yourself to fail early with that message.
    /// </summary>
    public static void EnsureInitialized()
    {
        if (s_loadError != null)
        {
            throw new InvalidOperationException(
                $"TorchSharp's {ElfVersionPatcher.LibTorchSharpFileName} requires " +
                $"{ElfVersionPatcher.RequiredLibStdCxxVersion}, which this system's " +
                $"libstdc++ ({ElfVersionPatcher.FindLibStdCxx() ?? "not found"}) lacks, and MlNetCnn could not patch " +
                $"the application's copy: {s_loadError.Message} " +
                "Rebuild the application with MlNetCnn's build targets (they patch the copy in the output folder), " +
                "make the application folder writable, " +
                "or install a libstdc++ from GCC 13 or newer.", s_loadError);
        }
        EnsureNativeBackend();
        OneDnnSwitch.ApplyEnvironment();
        _ = KernelCheckRunner.Result;
    }

    /// <summary>
    /// The kernel check's verdict: whether libtorch's oneDNN kernels compute the built-in networks' layers right on this
    /// CPU, and so which kernels run. MlNetCnn runs the check before its first use of libtorch in a process (training,
    /// scoring, loading models or weights; reading this property runs it too): the layer shapes of the built-in networks
    /// (3×3, 5×5, 7×7 and strided 1×1 convolutions at ResNet, GoogLeNet, DenseNet and AirbenchNet widths, batch norm,
    /// pooling, linear), forward and backward, planar and channels-last, float32 and, where the CPU trains in it,
    /// bfloat16, each against float64. When oneDNN disagrees beyond rounding, or its kernels crash the probe's child
    /// process, or CPUID describes caches oneDNN cannot size its kernels for, MlNetCnn turns oneDNN off for the process
    /// and prints one warning. The verdict is cached per machine (CPUID fingerprint and libtorch version), so later
    /// processes only read a file. <c>MLNETCNN_ONEDNN=1</c> or <c>0</c>, or setting <see cref="UseOneDnn"/> in code
    /// before the first use, skips the check.
    /// </summary>
    public static KernelCheck KernelCheck
    {
        get
        {
            EnsureInitialized();
            return KernelCheckRunner.Result;
        }
    }

    private static bool s_backendLoaded;

    private static void EnsureNativeBackend()
    {
        if (Volatile.Read(ref s_backendLoaded))
            return;
        try
        {
            TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException)
        {
            throw new InvalidOperationException(
                "TorchSharp's native libraries could not be loaded. MlNetCnn references the managed TorchSharp package only, and the application " +
                "chooses the native backend: add TorchSharp-cpu (dotnet add package TorchSharp-cpu --version " + TorchSharpVersion + "), or " +
                "TorchSharp-cuda-linux / TorchSharp-cuda-windows for NVIDIA GPUs. If the application references one, TorchSharp's " +
                $"first line says what failed (its whole trace is in the inner exception): {FirstLine((e.InnerException ?? e).Message)}", e);
        }
        Volatile.Write(ref s_backendLoaded, true);
    }

    private static string FirstLine(string message)
        => message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";

    /// <summary>The TorchSharp version MlNetCnn was built against (its backend packages have the same version).</summary>
    private static string TorchSharpVersion =>
        typeof(TorchSharp.torch).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "matching TorchSharp's";

    /// <summary>
    /// Whether libtorch runs CPU convolutions through oneDNN (its default, and 2 to 5 times faster than its own
    /// kernels). Process-wide, like PyTorch's <c>torch.backends.mkldnn.enabled</c>. Reading it gives the
    /// <see cref="KernelCheck"/>'s verdict (running the check if it has not run); setting it overrides the check, and a
    /// value set before MlNetCnn's first use of libtorch keeps the check from running. The environment variable
    /// <c>MLNETCNN_ONEDNN=0</c> or <c>1</c> decides instead of the check.
    /// </summary>
    /// <remarks>The switch is bound by its GCC/Clang C++ name (Linux, macOS); on Windows it throws
    /// <see cref="EntryPointNotFoundException"/>.</remarks>
    public static bool UseOneDnn
    {
        get
        {
            EnsureInitialized();
            return OneDnnSwitch.Enabled;
        }
        set => OneDnnSwitch.SetByApplication(value);
    }

    /// <summary>
    /// Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16), where
    /// <see cref="TrainingPrecision.MixedBFloat16WhereNative"/> trains in bfloat16 mixed precision.
    /// </summary>
    public static bool HasNativeBFloat16 => BFloat16Instructions.Supported;

    private static int? s_scoringThreads;

    /// <summary>
    /// Threads for libtorch's CPU kernels while MlNetCnn scores (<c>Transform</c>, <c>PredictionEngine</c>), for every
    /// model in the process, trained or loaded; from 1 to <see cref="Environment.ProcessorCount"/>. Default null: one
    /// thread per image of the forward pass, up to the processor cores, so a single-row prediction runs on one thread
    /// (libtorch's threads spin-wait: on a busy host a single image on all cores can take a hundred times longer) while
    /// a batch of <c>Transform</c> uses every core.
    /// </summary>
    /// <remarks>
    /// libtorch keeps the count per calling thread (its OpenMP setting), so scoring applies it on the thread that scores,
    /// just before the forward pass, and <see cref="CnnTrainer.Fit"/> applies <see cref="CnnTrainerOptions.NumberOfThreads"/>
    /// on its own thread: training and scoring on different threads do not change each other's count. On the same
    /// thread, each sets its own before it runs. A count set directly with <c>torch.set_num_threads</c> is overridden the
    /// next time MlNetCnn scores on that thread, and a thread that has not run libtorch yet starts with the count last
    /// set anywhere in the process (libtorch copies it on the thread's first parallel operation).
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above the processor count.</exception>
    public static int? ScoringThreads
    {
        get => s_scoringThreads;
        set
        {
            if (value is { } threads && (threads < 1 || threads > Environment.ProcessorCount))
                throw new ArgumentOutOfRangeException(nameof(value), threads,
                    $"TorchRuntime.ScoringThreads must be between 1 and the {Environment.ProcessorCount} processor "
                    + "cores, or null for one thread per image scored.");
            s_scoringThreads = value;
        }
    }

    /// <summary>Sets libtorch's thread count on the calling thread for a forward pass of <paramref name="images"/> images, when it differs.</summary>
    internal static void UseScoringThreads(int images)
    {
        int wanted = s_scoringThreads ?? Math.Clamp(images, 1, Environment.ProcessorCount);
        // Changing the count also clears oneDNN's kernel cache, so it is set only when it differs.
        if (TorchSharp.torch.get_num_threads() != wanted)
            TorchSharp.torch.set_num_threads(wanted);
    }

    /// <summary>The copies of libLibTorchSharp.so the runtime may load: in the app folder, TorchSharp's folder and
    /// their runtimes/&lt;rid&gt;/native.</summary>
    internal static IEnumerable<string> FindLibTorchSharpCopies()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            yield break;
        // typeof() loads the managed TorchSharp assembly only; its native library is loaded later, by torch's static constructor.
        var folders = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) }
            .Where(f => !string.IsNullOrEmpty(f)).Select(f => Path.GetFullPath(f!)).Distinct();
        var seen = new HashSet<string>();
        foreach (var folder in folders)
        {
            var candidates = new List<string> { Path.Combine(folder, ElfVersionPatcher.LibTorchSharpFileName) };
            string runtimes = Path.Combine(folder, "runtimes");
            if (Directory.Exists(runtimes))
                candidates.AddRange(Directory.GetDirectories(runtimes, "linux*")
                    .Select(r => Path.Combine(r, "native", ElfVersionPatcher.LibTorchSharpFileName)));
            foreach (var candidate in candidates.Where(File.Exists))
            {
                if (seen.Add(candidate))
                    yield return candidate;
            }
        }
    }
}
