using System.Globalization;
using System.IO.Compression;
using System.Xml.Linq;

namespace MlNetCnn.Tests;

/// <summary>
/// MlNetCnn as its users build it, outside the repository, in child processes: a scoring-only program with a
/// ProjectReference (built, then published), and a fresh app that trains, saves, loads and predicts from the two packages
/// on a local feed. Each first run must work without any MlNetCnn call before <c>Model.Load</c>.
/// </summary>
[Collection(nameof(ConsumerAppTests))]
public sealed class ConsumerAppTests(ConsumerAppFixture fixture) : IClassFixture<ConsumerAppFixture>
{
    [LinuxFact]
    public void ScoringOnlyProgramWithAProjectReferencePredictsOnTheFirstRunBuiltAndPublished()
    {
        string app = Directory.CreateDirectory(fixture.Combine("project-reference")).FullName;
        string library = Path.Combine(fixture.RepositoryRoot, "src", "MlNetCnn", "MlNetCnn.csproj");
        string visualization = Path.Combine(fixture.RepositoryRoot, "src", "MlNetCnn.Visualization", "MlNetCnn.Visualization.csproj");
        string targets = Path.Combine(fixture.RepositoryRoot, "src", "MlNetCnn", "buildTransitive", "MlNetCnn.targets");
        string rid = ConsumerAppFixture.RuntimeIdentifier;
        // RuntimeIdentifiers in the app (not -r at restore) leaves the library's restore as the repository made it; built
        // in the test run's configuration, the library is up to date and not compiled again.
        fixture.WriteProject(app, properties: $"<RuntimeIdentifiers>{rid}</RuntimeIdentifiers>", items: $"""
            <ProjectReference Include="{library}" />
            <ProjectReference Include="{visualization}" Condition="'$(WithPlots)' == 'true'" />
            <PackageReference Include="TorchSharp-cpu" Version="0.107.0" Condition="'$(WithoutBackend)' != 'true'" />
            """, imports: $"""<Import Project="{targets}" Condition="'$(ImportMlNetCnnTargets)' == 'true'" />""");
        string[] build = ["-c", fixture.Configuration, "--disable-build-servers", "-nodeReuse:false"];

        // 1. A plain build with the plots, nothing imported: the library's module initializer runs when ML.NET loads
        //    it, before TorchSharp; ML.NET's image transforms and the plots share one SkiaSharp: nothing else needed.
        fixture.Dotnet(app, null, ["build", .. build, "-p:WithPlots=true"]);
        string output = Path.Combine(app, "bin", fixture.Configuration, "net10.0");
        ConsumerAppFixture.AssertMlNetAndSkiaSharp(output);
        string scored = fixture.Dotnet(output, null, "ConsumerApp.dll", "score", fixture.ModelPath, fixture.ImageList);
        Assert.Equal(fixture.ExpectedLabels, ConsumerAppFixture.PredictedLabels(scored));
        Assert.False(Directory.Exists(Path.Combine(output, "cpu")), "TorchSharp fell back to copying libtorch into <app>/cpu");

        // 2. Published for one runtime, with the plots and the build targets imported, and a TorchSharp call before any
        //    MlNetCnn code (which needs the build-time libtorch fix); ML.NET's files are published as shipped.
        string published = fixture.Combine("published");
        fixture.Dotnet(app, null, ["publish", "-r", rid, "--self-contained", "false", "-o", published, .. build,
            "-p:ImportMlNetCnnTargets=true", "-p:WithPlots=true"]);
        ConsumerAppFixture.AssertMlNetAndSkiaSharp(published);
        string torchFirst = fixture.Dotnet(published, null, "ConsumerApp.dll", "torch-first", fixture.ModelPath, fixture.ImageList);
        Assert.Equal(fixture.ExpectedLabels, ConsumerAppFixture.PredictedLabels(torchFirst));

        // 3. Without a TorchSharp backend package: MlNetCnn's error says which packages to add. The opt-out of the fix
        //    reaches runtimeconfig.json for the library's first-use fallback.
        fixture.Dotnet(app, null, ["build", "-r", rid, "-p:WithoutBackend=true", "-p:ImportMlNetCnnTargets=true",
            "-p:MlNetCnnPatchLibTorchSharp=false", .. build]);
        string withoutBackend = Path.Combine(output, rid);
        string runtimeConfig = File.ReadAllText(Path.Combine(withoutBackend, "ConsumerApp.runtimeconfig.json"));
        Assert.Contains("\"MlNetCnn.PatchLibTorchSharp\": false", runtimeConfig, StringComparison.Ordinal);
        // An empty package folder: TorchSharp's fallback would otherwise copy libtorch (~480 MB) from the cache into <app>/cpu.
        var noPackages = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Directory.CreateDirectory(fixture.Combine("no-packages")).FullName };
        var (exitCode, failed) = fixture.TryDotnet(withoutBackend, noPackages,
            "ConsumerApp.dll", "train", fixture.ImagesRoot, fixture.Combine("not-trained.zip"), app);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("the application chooses the native backend: add TorchSharp-cpu", failed, StringComparison.Ordinal);
    }

    [LinuxFact]
    public void PackagesFromALocalFeedTrainSaveLoadAndPredictInAFreshApp()
    {
        // A version no cache can hold already, and a private package folder (deleted with the fixture) for what restore adds.
        string version = $"0.0.0-ci.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string feed = Directory.CreateDirectory(fixture.Combine("feed")).FullName;
        string packages = Directory.CreateDirectory(fixture.Combine("packages")).FullName;
        foreach (var project in new[] { "MlNetCnn", "MlNetCnn.Visualization" })
        {
            string packed = fixture.Dotnet(fixture.RepositoryRoot, null, "pack", Path.Combine("src", project, project + ".csproj"), "--no-build",
                "-c", fixture.Configuration, "-o", feed, $"-p:Version={version}", $"-p:NuspecOutputPath={fixture.Combine("nuspec", project)}/");
            Assert.DoesNotContain("warning", packed, StringComparison.OrdinalIgnoreCase);
        }
        var core = AssertDependencies(feed, "MlNetCnn", version, "Microsoft.ML", "Microsoft.ML.ImageAnalytics", "Microsoft.ML.OnnxConverter",
            "SkiaSharp", "SkiaSharp.NativeAssets.Linux.NoDependencies", "TorchSharp");
        var plots = AssertDependencies(feed, "MlNetCnn.Visualization", version, "MlNetCnn", "ScottPlot", "SkiaSharp",
            "SkiaSharp.NativeAssets.Linux.NoDependencies");
        // Lower bounds: the ML.NET release the library is built and tested against; one SkiaSharp line for both.
        Assert.Equal(ConsumerAppFixture.MlNetVersion, core["Microsoft.ML"]);
        Assert.Equal(ConsumerAppFixture.MlNetVersion, core["Microsoft.ML.ImageAnalytics"]);
        Assert.Equal(core["SkiaSharp"], plots["SkiaSharp"]);
        Assert.StartsWith("3.", core["SkiaSharp"], StringComparison.Ordinal);

        string app = Directory.CreateDirectory(fixture.Combine("package-consumer")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local-feed" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="repository-cache" value="{ConsumerAppFixture.PackageCache}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        // As a new user writes it: ML.NET added first (dotnet add package Microsoft.ML, ...), then MlNetCnn.
        fixture.WriteProject(app, properties: "<DefineConstants>$(DefineConstants);PLOTS</DefineConstants>", items: $"""
            <PackageReference Include="Microsoft.ML" Version="{ConsumerAppFixture.MlNetVersion}" />
            <PackageReference Include="Microsoft.ML.ImageAnalytics" Version="{ConsumerAppFixture.MlNetVersion}" />
            <PackageReference Include="MlNetCnn" Version="{version}" />
            <PackageReference Include="MlNetCnn.Visualization" Version="{version}" />
            <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
            """);
        var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = packages };
        fixture.Dotnet(app, environment, "build", "--disable-build-servers", "-nodeReuse:false");
        string output = Path.Combine(app, "bin", "Debug", "net10.0");
        ConsumerAppFixture.AssertMlNetAndSkiaSharp(output);

        // First run of the fresh build: scoring only, with the model trained in this process.
        string scored = fixture.Dotnet(output, null, "ConsumerApp.dll", "score", fixture.ModelPath, fixture.ImageList);
        Assert.Equal(fixture.ExpectedLabels, ConsumerAppFixture.PredictedLabels(scored));

        // Train, save, reload in a fresh MLContext and predict; a plot from the Visualization package.
        string trained = fixture.Dotnet(output, null, "ConsumerApp.dll", "train", fixture.ImagesRoot, fixture.Combine("trained.zip"), app);
        double accuracy = double.Parse(trained.Split('\n')
            .Single(l => l.StartsWith("accuracy ", StringComparison.Ordinal))["accuracy ".Length..],
            CultureInfo.InvariantCulture);
        Assert.True(accuracy >= 0.9, $"training accuracy {accuracy}");
        Assert.True(new FileInfo(Path.Combine(app, "curves.png")).Length > 1000, "no training-curve plot");
        var reloaded = ConsumerAppFixture.Predictions(trained);
        Assert.Equal(fixture.ExpectedLabels.Count, reloaded.Count);

        // Another process, a TorchSharp call first: the same scores, bit for bit.
        string torchFirst = fixture.Dotnet(output, null, "ConsumerApp.dll", "torch-first", fixture.Combine("trained.zip"), fixture.ImageList);
        Assert.Equal(reloaded, ConsumerAppFixture.Predictions(torchFirst));

        // A file-based app (dotnet run app.cs) defaults to PublishAot=true, which turns dynamic code off even in a plain
        // run, and ML.NET needs it: the package turns native AOT off for such apps.
        string fileBasedApp = Path.Combine(app, "dynamic-code.cs");
        File.WriteAllText(fileBasedApp, $"""
            #:package MlNetCnn@{version}
            Console.WriteLine($"dynamic code {System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported}");
            """);
        string ran = fixture.Dotnet(app, environment, "run", "--file", fileBasedApp, "--artifacts-path", fixture.Combine("file-based-artifacts"));
        Assert.Contains("dynamic code True", ran, StringComparison.Ordinal);
    }

    /// <summary>Checks the package's dependency ids and metadata; returns each dependency's lower bound.</summary>
    private static Dictionary<string, string> AssertDependencies(string feed, string id, string version,
        params string[] expected)
    {
        using var package = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
        using var nuspec = package.GetEntry(id + ".nuspec")!.Open();
        var document = XDocument.Load(nuspec);
        var dependencies = document.Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => ((string)e.Attribute("id")!, (string)e.Attribute("version")!)).Distinct().ToDictionary();
        Assert.Equal(expected, dependencies.Keys.Order(StringComparer.Ordinal));
        var metadata = document.Descendants().Single(e => e.Name.LocalName == "metadata");
        Assert.Equal("MIT", metadata.Elements().Single(e => e.Name.LocalName == "license").Value);
        Assert.Equal("README.md", metadata.Elements().Single(e => e.Name.LocalName == "readme").Value);
        Assert.NotNull(package.GetEntry("README.md"));
        Assert.NotNull(package.GetEntry("LICENSE"));
        return dependencies;
    }
}

[CollectionDefinition(nameof(ConsumerAppTests))]
public sealed class ConsumerAppCollection;
