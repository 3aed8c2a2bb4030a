using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>
/// MlNetCnn.Platform shows users only the switch they need (TorchRuntime.UseOneDnn) and the early check
/// (TorchRuntime.EnsureInitialized); the patchers of the build output are plumbing.
/// </summary>
public sealed class PlatformPublicSurfaceTests
{
    [Fact]
    public void OnlyTorchRuntimeIsPublicInThePlatformNamespace()
    {
        var exported = typeof(TorchRuntime).Assembly.GetExportedTypes().Where(t => t.Namespace == typeof(TorchRuntime).Namespace);
        Assert.Equal([nameof(TorchRuntime)], exported.Select(t => t.Name));
        var members = typeof(TorchRuntime).GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly)
            .Select(m => m.Name).Where(n => !n.StartsWith("get_", StringComparison.Ordinal) && !n.StartsWith("set_", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        Assert.Equal([nameof(TorchRuntime.EnsureInitialized), nameof(TorchRuntime.UseOneDnn)], members);
    }
}
