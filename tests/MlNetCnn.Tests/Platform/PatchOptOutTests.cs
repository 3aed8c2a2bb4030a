using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>
/// -p:MlNetCnnPatchLibTorchSharp=false reaches the library's first-use fallback as an AppContext switch in
/// runtimeconfig.json (the build side is checked in <see cref="ConsumerAppTests"/>).
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
    public void TheSwitchNameMatchesWhatTheBuildTargetsWrite()
    {
        string targets =
            File.ReadAllText(Path.Combine(ConsumerAppFixture.FindRepositoryRoot(), "src", "MlNetCnn", "buildTransitive",
                "MlNetCnn.targets"));
        Assert.Contains($"<RuntimeHostConfigurationOption Include=\"{TorchRuntime.PatchLibTorchSharpSwitch}\" "
            + "Value=\"false\"", targets, StringComparison.Ordinal);
        // The one remaining fix: ML.NET 6's image transforms and the plots share SkiaSharp 3, nothing of ML.NET is
        // rewritten.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(targets, "<RuntimeHostConfigurationOption "));
    }
}
