using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>
/// -p:MlNetCnnPatchLibTorchSharp=false / -p:MlNetCnnPatchImageAnalytics=false reach the library's first-use fallback as
/// AppContext switches in runtimeconfig.json (the build side is checked in <see cref="ConsumerAppTests"/>).
/// </summary>
public sealed class PatchOptOutTests
{
    [Fact]
    public void AFixIsOnUnlessItsSwitchIsFalse()
    {
        const string unset = "MlNetCnn.Tests.SwitchNobodySets";
        Assert.True(TorchRuntime.IsEnabled(unset));

        const string off = "MlNetCnn.Tests.SwitchSetFalse";
        AppContext.SetSwitch(off, false);
        Assert.False(TorchRuntime.IsEnabled(off));

        const string on = "MlNetCnn.Tests.SwitchSetTrue";
        AppContext.SetSwitch(on, true);
        Assert.True(TorchRuntime.IsEnabled(on));
    }

    [Fact]
    public void TheSwitchNamesMatchWhatTheBuildTargetsWrite()
    {
        string targets = File.ReadAllText(Path.Combine(ConsumerAppFixture.FindRepositoryRoot(), "src", "MlNetCnn", "buildTransitive", "MlNetCnn.targets"));
        Assert.Contains($"<RuntimeHostConfigurationOption Include=\"{TorchRuntime.PatchLibTorchSharpSwitch}\" Value=\"false\"", targets, StringComparison.Ordinal);
        Assert.Contains($"<RuntimeHostConfigurationOption Include=\"{TorchRuntime.PatchImageAnalyticsSwitch}\" Value=\"false\"", targets, StringComparison.Ordinal);
    }
}
