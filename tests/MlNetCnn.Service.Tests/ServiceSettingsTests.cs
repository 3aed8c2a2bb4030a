using ClassifierService;

namespace MlNetCnn.Service.Tests;

/// <summary>The command line: the service's options, ASP.NET Core's left alone, and the message for a missing model.</summary>
public sealed class ServiceSettingsTests
{
    [Fact]
    public void OptionsAreReadAndHostArgumentsPassThrough()
    {
        var settings = ServiceSettings.Parse(["--model", "m.zip", "--urls", "http://127.0.0.1:6000", "--engine", "ONNX",
            "--max-upload-mb", "1.5", "--scoring-threads", "1", "--concurrency", "4", "--poll-seconds", "0.5"], out var host, out string? error);
        Assert.Null(error);
        Assert.NotNull(settings);
        Assert.Equal(("m.zip", ScoringEngine.Onnx, 3L << 19, 4),
            (settings.ModelPath, settings.Engine, settings.MaxUploadBytes, settings.Concurrency));
        Assert.Equal(TimeSpan.FromSeconds(0.5), settings.PollInterval);
        Assert.Equal(["--urls", "http://127.0.0.1:6000"], host);
        Assert.Equal(Path.GetFullPath("m.zip"), settings.WatchedPath);
    }

    [Theory]
    [InlineData("--engine", "tensorflow", "libtorch or onnx")]
    [InlineData("--scoring-threads", "0", "--scoring-threads")]
    [InlineData("--max-upload-mb", "lots", "--max-upload-mb")]
    [InlineData("--concurrency", "-1", "--concurrency")]
    public void BadValuesAreNamed(string option, string value, string mentioned)
    {
        Assert.Null(ServiceSettings.Parse([option, value], out _, out string? error));
        Assert.Contains(mentioned, error, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingDefaultModelNamesTheCommandThatMakesIt()
    {
        var settings = new ServiceSettings { ModelPath = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "model.zip") };
        Assert.Contains("dotnet run --project examples/MnistFromFolders -c Release", settings.MissingInput(), StringComparison.Ordinal);
        var bundle = ServiceSettings.Parse(["--onnx", "missing.onnx.zip"], out _, out _)!;
        Assert.Equal(ScoringEngine.Onnx, bundle.Engine);
        Assert.Contains("--export-onnx", bundle.MissingInput(), StringComparison.Ordinal);
    }
}
