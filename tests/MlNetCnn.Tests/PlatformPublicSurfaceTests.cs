using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>
/// MlNetCnn.Platform shows users only TorchRuntime (its switches and the early check); the patchers of the build output
/// and their outcome types are plumbing.
/// </summary>
public sealed class PlatformPublicSurfaceTests
{
    [Fact]
    public void OnlyTorchRuntimeIsPublicInThePlatformNamespace()
    {
        var exported = typeof(TorchRuntime).Assembly.GetExportedTypes().Where(t => t.Namespace == typeof(TorchRuntime).Namespace);
        Assert.Equal([nameof(TorchRuntime)], exported.Select(t => t.Name));
    }
}
