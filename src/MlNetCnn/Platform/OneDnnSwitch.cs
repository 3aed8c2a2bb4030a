using System.Runtime.InteropServices;

namespace MlNetCnn.Platform;

/// <summary>
/// libtorch's switch for its oneDNN (mkldnn) CPU kernels: PyTorch's <c>torch.backends.mkldnn.enabled</c>, which
/// TorchSharp does not expose, reached through libtorch's exported <c>at::Context</c> members.
/// </summary>
internal static partial class OneDnnSwitch
{
    /// <summary>Whether libtorch may use oneDNN. Loads libtorch first, through TorchSharp, so the imports bind to that copy.</summary>
    internal static bool Enabled
    {
        get
        {
            _ = TorchSharp.torch.get_num_threads();
            return UserEnabledMkldnn(GlobalContext());
        }
        set
        {
            _ = TorchSharp.torch.get_num_threads();
            SetUserEnabledMkldnn(GlobalContext(), value);
        }
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
