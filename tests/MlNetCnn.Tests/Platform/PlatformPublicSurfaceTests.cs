using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>
/// MlNetCnn.Platform shows users only TorchRuntime (its switches and the early check) and the kernel check's verdict
/// it returns; the patchers of the build output, the probe and the verdict cache are plumbing.
/// </summary>
public sealed class PlatformPublicSurfaceTests
{
    [Fact]
    public void OnlyTorchRuntimeAndTheKernelCheckVerdictArePublicInThePlatformNamespace()
    {
        var exported = typeof(TorchRuntime).Assembly.GetExportedTypes().Where(t => t.Namespace == typeof(TorchRuntime).Namespace);
        Assert.Equal([nameof(KernelCheck), nameof(KernelCheckOutcome), nameof(KernelDisagreement), nameof(TorchRuntime)],
            exported.Select(t => t.Name).Order());
    }
}
