using System.Runtime.InteropServices;

namespace MlNetCnn.Platform;

/// <summary>
/// libtorch's switch for its oneDNN (mkldnn) CPU kernels: PyTorch's <c>torch.backends.mkldnn.enabled</c>, which
/// TorchSharp does not expose, reached through libtorch's exported <c>at::Context</c> members.
/// </summary>
internal static partial class OneDnnSwitch
{
    internal const string EnvironmentVariable = "MLNETCNN_ONEDNN";

    // libtorch's global context, a process-lifetime object. Fetching it applies MLNETCNN_ONEDNN=0, so the variable acts
    // before the switch is first read or set and an explicit setting made afterwards wins. PublicationOnly: a failed
    // load is not cached, and a second concurrent fetch only repeats the same idempotent steps.
    private static readonly Lazy<IntPtr> s_context = new(FetchContext, LazyThreadSafetyMode.PublicationOnly);

    /// <summary>Whether libtorch may use oneDNN.</summary>
    internal static bool Enabled
    {
        get => UserEnabledMkldnn(s_context.Value);
        set => SetUserEnabledMkldnn(s_context.Value, value);
    }

    /// <summary>Whether the application set the switch (<see cref="TorchRuntime.UseOneDnn"/>): the kernel check then leaves it alone.</summary>
    internal static bool SetInCode { get; private set; }

    /// <summary>The application's own setting, which wins over the kernel check's.</summary>
    internal static void SetByApplication(bool enabled)
    {
        SetInCode = true;
        Enabled = enabled;
    }

    /// <summary>Applies <c>MLNETCNN_ONEDNN=0</c> if the switch has not been used yet; touches libtorch only when the variable is set.</summary>
    internal static void ApplyEnvironment()
    {
        if (DisabledByEnvironment)
            _ = s_context.Value;
    }

    private static bool DisabledByEnvironment => Environment.GetEnvironmentVariable(EnvironmentVariable) == "0";

    private static IntPtr FetchContext()
    {
        // Loads libtorch through TorchSharp first, so the imports below bind to that copy.
        _ = TorchSharp.torch.get_num_threads();
        var context = GlobalContext();
        if (DisabledByEnvironment)
            SetUserEnabledMkldnn(context, false);
        return context;
    }

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    // Member functions: the Context pointer is the first argument in the System V x64 ABI.
    [LibraryImport("torch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    [LibraryImport("torch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
