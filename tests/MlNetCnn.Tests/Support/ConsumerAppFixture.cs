using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// Builds and runs apps that use MlNetCnn the way its users do, in child processes and in a temporary folder outside the
/// repository: <c>tests/ConsumerApp/Program.cs</c> compiled against the packages (local feed) or a ProjectReference.
/// Shares one small trained model, its images and the dotnet command line between <see cref="ConsumerAppTests"/>.
/// </summary>
public sealed class ConsumerAppFixture : IDisposable
{
    private readonly TempFolder _temp = new();

    public ConsumerAppFixture()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        Configuration = testBin.Parent!.Name;
        RepositoryRoot = FindRepositoryRoot();
        ImagesRoot = SyntheticImages.CreateFolder(Combine("images"), perClass: 12, seed: 21);
        ImageList = Combine("images.tsv");
        var rows = ImageFolder.List(ImagesRoot);
        File.WriteAllLines(ImageList, rows.Select(r => r.ImagePath + "\t" + r.Label));

        // The model the scoring apps load, trained here; its predictions are what they must reproduce.
        var ml = new MLContext(seed: 2);
        var data = ImageFolder.Load(ml, ImagesRoot);
        var model = PipelineTests.GrayscalePipeline(ml, new CnnTrainerOptions { Epochs = 3, BatchSize = 12, Seed = 4 }).Fit(data);
        ModelPath = Combine("model.zip");
        ml.Model.Save(model, data.Schema, ModelPath);
        var engine = ml.Model.CreatePredictionEngine<ImageFolderRow, PredictedLabelRow>(model);
        ExpectedLabels = rows.ToDictionary(r => r.ImagePath, r => engine.Predict(r).PredictedLabel);
        (model as IDisposable)?.Dispose();
    }

    /// <summary>Debug or Release: the configuration these tests were built in, so the libraries' outputs exist.</summary>
    public string Configuration { get; }

    public string RepositoryRoot { get; }

    public string ImagesRoot { get; }

    /// <summary>path&lt;TAB&gt;label of every image, as the scoring mode reads it.</summary>
    public string ImageList { get; }

    public string ModelPath { get; }

    /// <summary>The label this process predicts for each image with the model at <see cref="ModelPath"/>.</summary>
    public Dictionary<string, string> ExpectedLabels { get; }

    /// <summary>The consumer program's source.</summary>
    public string ProgramSource => Path.Combine(RepositoryRoot, "tests", "ConsumerApp", "Program.cs");

    /// <summary>The NuGet package folder the repository restored into; child restores read it as a fallback folder.</summary>
    public static string PackageCache => Environment.GetEnvironmentVariable("NUGET_PACKAGES")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>The ML.NET version the repository builds against (e.g. 6.0.0); the consumer apps reference it.</summary>
    public static string MlNetVersion { get; } = typeof(MLContext).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    /// <summary>
    /// An app's output holds ML.NET's image transforms at <see cref="MlNetVersion"/>, byte for byte as the package
    /// ships them (nothing rewrites them), and SkiaSharp 3, the line they are built against.
    /// </summary>
    public static void AssertMlNetAndSkiaSharp(string folder)
    {
        const string imageAnalytics = "Microsoft.ML.ImageAnalytics.dll";
        string shipped = Path.Combine(PackageCache, "microsoft.ml.imageanalytics", MlNetVersion, "lib",
            "netstandard2.0", imageAnalytics);
        Assert.Equal(File.ReadAllBytes(shipped), File.ReadAllBytes(Path.Combine(folder, imageAnalytics)));
        Assert.Equal(3, AssemblyName.GetAssemblyName(Path.Combine(folder, "SkiaSharp.dll")).Version!.Major);
    }

    /// <summary>The portable runtime identifier of this machine, e.g. linux-x64.</summary>
    public static string RuntimeIdentifier => RuntimeInformation.RuntimeIdentifier;

    public string Combine(params string[] parts) => _temp.Combine(parts);

    /// <summary>
    /// Writes <c>folder/ConsumerApp.csproj</c>: an executable compiling <see cref="ProgramSource"/> with
    /// <paramref name="items"/> (its references). Copies of libtorch's ~500 MB are hard links (the fixes replace a file,
    /// never write through a link).
    /// </summary>
    public void WriteProject(string folder, string properties, string items, string imports = "")
        => File.WriteAllText(Path.Combine(folder, "ConsumerApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <CreateHardLinksForCopyLocalIfPossible>true</CreateHardLinksForCopyLocalIfPossible>
                <CreateHardLinksForPublishFilesIfPossible>true</CreateHardLinksForPublishFilesIfPossible>
                {properties}
              </PropertyGroup>
              <ItemGroup>
                <Compile Include="{ProgramSource}" />
                {items}
              </ItemGroup>
              {imports}
            </Project>
            """);

    /// <summary>Runs dotnet with <paramref name="arguments"/>; fails the test with the output when it exits non-zero.</summary>
    public string Dotnet(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var (exitCode, text) = TryDotnet(workingDirectory, environment, arguments);
        Assert.True(exitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {exitCode}:\n{text}");
        return text;
    }

    /// <summary>Runs dotnet with <paramref name="arguments"/> and returns its exit code and output (standard output and error).</summary>
    public (int ExitCode, string Output) TryDotnet(string workingDirectory,
        IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // The test host's MSBuild variables would point the child build at this build's state.
        foreach (var name in start.Environment.Keys.Where(k =>
            k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "VSTEST_HOST_DEBUG").ToList())
            start.Environment.Remove(name);
        // No build servers or reused nodes: nothing may outlive the build and hold this test's output pipes open.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment != null)
        {
            foreach (var (name, value) in environment)
                start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var lockObject = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (lockObject) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (lockObject) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish in 8 minutes:\n{output}");
        }
        process.WaitForExit();
        string text;
        lock (lockObject)
            text = output.ToString();
        return (process.ExitCode, text);
    }

    /// <summary>The "predict &lt;path&gt; &lt;label&gt; &lt;score bits&gt;" lines of a consumer app run, by image path.</summary>
    public static Dictionary<string, string> Predictions(string output)
        => output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("predict ", StringComparison.Ordinal))
            .Select(l => l["predict ".Length..].Split(' ', 2)).ToDictionary(p => p[0], p => p[1]);

    /// <summary>The predicted label of each image in <paramref name="output"/>.</summary>
    public static Dictionary<string, string> PredictedLabels(string output)
        => Predictions(output).ToDictionary(p => p.Key, p => p.Value.Split(' ')[0]);

    /// <summary>The repository these tests were built from: the folder above the test output that holds MlNetCnn.sln.</summary>
    public static string FindRepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder != null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "MlNetCnn.sln")))
                return folder.FullName;
        }
        throw new InvalidOperationException($"No MlNetCnn.sln above {AppContext.BaseDirectory}.");
    }

    public void Dispose() => _temp.Dispose();

    private sealed class PredictedLabelRow
    {
        public string PredictedLabel { get; set; } = "";
    }
}
