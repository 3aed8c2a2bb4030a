using System.Diagnostics;

namespace MlNetCnn.Tests;

/// <summary>Runs tests/MlNetCnn.ModelLoadProbe, a fresh application built beside the tests, in its own process.</summary>
internal static class ModelLoadProbeApp
{
    /// <summary>
    /// Runs the probe with <paramref name="arguments"/>; <paramref name="environment"/> sets (or, with a null value,
    /// removes) variables. Asserts that it exits with 0 and returns its standard output and error.
    /// </summary>
    public static (string Output, string Errors) Run(IEnumerable<string> arguments,
        params (string Name, string? Value)[] environment)
    {
        // tests/MlNetCnn.Tests/bin/<configuration>/<tfm>/ -> tests/MlNetCnn.ModelLoadProbe/bin/<configuration>/<tfm>/
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string application = Path.Combine(testBin.Parent!.Parent!.Parent!.Parent!.FullName, "MlNetCnn.ModelLoadProbe",
            "bin", testBin.Parent.Name, testBin.Name, "MlNetCnn.ModelLoadProbe.dll");
        Assert.True(File.Exists(application), $"the probe was not built at {application}");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true, RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(application);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
        {
            if (value is null)
                start.Environment.Remove(name);
            else
                start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"the probe failed ({process.ExitCode}): {errors.Result}");
        return (output, errors.Result);
    }
}
