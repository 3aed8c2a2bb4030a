using System.Reflection;
using Microsoft.ML.Data;
using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>The fix applied to copies in the output folder, on the real files; ML.NET's files stay as shipped.</summary>
public sealed class PlatformPatchTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string OutputFile(params string[] parts) => Path.Combine([AppContext.BaseDirectory, .. parts]);

    /// <summary>The pristine library, from the NuGet package folder (read only).</summary>
    private static string PackageFile(string package, string version, params string[] parts)
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine([root, package, version, .. parts]);
    }

    private static string OriginalLibTorchSharp
        => PackageFile("torchsharp", "0.107.0", "runtimes", "linux-x64", "native",
            ElfVersionPatcher.LibTorchSharpFileName);

    [LinuxFact]
    public void ReadsTheLibStdCxxRequirementsOfTheRealLibrary()
    {
        var requirements = ElfVersionPatcher.ReadVersionRequirements(File.ReadAllBytes(OriginalLibTorchSharp));
        var required = Assert.Single(requirements, r => r.Version == ElfVersionPatcher.RequiredLibStdCxxVersion);
        Assert.Equal("libstdc++.so.6", required.Library);
        Assert.False(required.IsWeak);
        Assert.Contains(requirements, r => r.Version.StartsWith("GLIBC_", StringComparison.Ordinal));
    }

    [LinuxFact]
    public void MarkWeakChangesExactlyThatFlagAndIsIdempotent()
    {
        byte[] original = File.ReadAllBytes(OriginalLibTorchSharp);
        byte[] patched = (byte[])original.Clone();

        Assert.Equal(1, ElfVersionPatcher.MarkWeak(patched, ElfVersionPatcher.RequiredLibStdCxxVersion));
        Assert.Equal(0, ElfVersionPatcher.MarkWeak(patched, ElfVersionPatcher.RequiredLibStdCxxVersion));

        Assert.Equal(1, original.Zip(patched).Count(p => p.First != p.Second));
        var before = ElfVersionPatcher.ReadVersionRequirements(original);
        var after = ElfVersionPatcher.ReadVersionRequirements(patched);
        Assert.Equal(before.Select(r => (r.Library, r.Version)), after.Select(r => (r.Library, r.Version)));
        Assert.True(after.Single(r => r.Version == ElfVersionPatcher.RequiredLibStdCxxVersion).IsWeak);
        Assert.All(after.Where(r => r.Version != ElfVersionPatcher.RequiredLibStdCxxVersion), r => Assert.False(r.IsWeak));
    }

    [LinuxFact]
    public void TheBuildPatchedTheCopyInTheOutputWhenThisSystemNeedsIt()
    {
        string copy = OutputFile("runtimes", "linux-x64", "native", ElfVersionPatcher.LibTorchSharpFileName);
        bool needed = !ElfVersionPatcher.SystemLibStdCxxDefines(ElfVersionPatcher.RequiredLibStdCxxVersion);
        var requirement = ElfVersionPatcher.ReadVersionRequirements(File.ReadAllBytes(copy))
            .Single(r => r.Version == ElfVersionPatcher.RequiredLibStdCxxVersion);
        Assert.Equal(needed, requirement.IsWeak);
        // The package folder's copy is never modified.
        Assert.False(ElfVersionPatcher.ReadVersionRequirements(File.ReadAllBytes(OriginalLibTorchSharp))
            .Single(r => r.Version == ElfVersionPatcher.RequiredLibStdCxxVersion).IsWeak);
    }

    [OldLibStdCxxFact]
    public void EnsureLoadablePatchesACopyAtomicallyAndRefusesPackageFolders()
    {
        string copy = _temp.Combine(ElfVersionPatcher.LibTorchSharpFileName);
        File.Copy(OriginalLibTorchSharp, copy);
        string link = _temp.Combine("hard-link-to-copy.so");
        PosixFiles.CreateHardLink(copy, link);

        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionPatcher.EnsureLoadable(copy));
        Assert.Equal(ElfPatchOutcome.AlreadyPatched, ElfVersionPatcher.EnsureLoadable(copy));
        // Replaced by rename: a hard link (as into a package cache) keeps the original bytes.
        Assert.False(ElfVersionPatcher.ReadVersionRequirements(File.ReadAllBytes(link))
            .Single(r => r.Version == ElfVersionPatcher.RequiredLibStdCxxVersion).IsWeak);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.patching-*"));

        string package = _temp.Combine("package");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, ".nupkg.metadata"), "{}");
        string inPackage = Path.Combine(package, ElfVersionPatcher.LibTorchSharpFileName);
        File.Copy(OriginalLibTorchSharp, inPackage);
        var error = Assert.Throws<InvalidOperationException>(() => ElfVersionPatcher.EnsureLoadable(inPackage));
        Assert.Contains("NuGet package folder", error.Message);
    }

    [LinuxFact]
    public void NonElfInputIsRejectedWithAClearError()
    {
        Assert.Throws<InvalidDataException>(() =>
            ElfVersionPatcher.ReadVersionRequirements(
                "not an elf file at all, just text......................................"u8.ToArray()));
        var truncated = File.ReadAllBytes(OriginalLibTorchSharp)[..4096];
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.ReadVersionRequirements(truncated));
    }

    [Fact]
    public void MlNetsImageTransformsInTheOutputAreThePackagesFileUnchanged()
    {
        // ML.NET 6's ImageAnalytics is built against the SkiaSharp everything here uses: no build step rewrites it.
        const string name = "Microsoft.ML.ImageAnalytics.dll";
        string version = typeof(MLImage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!
            .InformationalVersion.Split('+')[0];
        string shipped = PackageFile("microsoft.ml.imageanalytics", version, "lib", "netstandard2.0", name);
        Assert.Equal(File.ReadAllBytes(shipped), File.ReadAllBytes(OutputFile(name)));
    }
}
