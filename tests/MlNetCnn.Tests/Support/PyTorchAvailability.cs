using System.Diagnostics;

namespace MlNetCnn.Tests;

/// <summary>Debian's real PyTorch (<c>/usr/bin/python3</c> with torch and torchvision), which .ci/run installs.</summary>
internal static class PyTorchAvailability
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> s_missing = new(() =>
    {
        if (!File.Exists(Python))
            return $"{Python} is not installed (apt-get install python3-torch python3-torchvision)";
        var (code, output) = Run(TimeSpan.FromSeconds(60), "-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)");
        return code == 0 ? null
            : $"{Python} cannot import torch and torchvision (apt-get install python3-torch python3-torchvision): "
            + $"{output.Trim()}";
    });

    /// <summary>Why the parity tests cannot run here, or null when they can.</summary>
    public static string? MissingReason => s_missing.Value;

    /// <summary>Runs the system Python; returns its exit code and its standard output and error.</summary>
    public static (int ExitCode, string Output) Run(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        // One thread each: the parity checks are small, and the machine is shared with the test host.
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}");
        }
        return (process.ExitCode, output + error.Result);
    }
}

/// <summary>Debian's python3-onnx, whose checker validates exported files; .ci/run installs it.</summary>
internal static class OnnxCheckerAvailability
{
    private static readonly Lazy<string?> s_missing = new(() =>
    {
        if (!File.Exists(PyTorchAvailability.Python))
            return $"{PyTorchAvailability.Python} is not installed (apt-get install python3-onnx)";
        var (code, output) = PyTorchAvailability.Run(TimeSpan.FromSeconds(60), "-c", "import onnx; print(onnx.__version__)");
        return code == 0 ? null : $"{PyTorchAvailability.Python} cannot import onnx (apt-get install python3-onnx): {output.Trim()}";
    });

    /// <summary>Why the ONNX checker cannot run here, or null when it can.</summary>
    public static string? MissingReason => s_missing.Value;
}

/// <summary>A fact that runs only where the system Python has the ONNX checker.</summary>
public sealed class OnnxCheckerFactAttribute : FactAttribute
{
    public OnnxCheckerFactAttribute()
    {
        if (OnnxCheckerAvailability.MissingReason is { } reason)
            Skip = reason;
    }
}

/// <summary>A theory that runs only where the system Python has torch and torchvision.</summary>
public sealed class PyTorchTheoryAttribute : TheoryAttribute
{
    public PyTorchTheoryAttribute()
    {
        if (PyTorchAvailability.MissingReason is { } reason)
            Skip = reason;
    }
}

/// <summary>A fact that runs only where the system Python has torch and torchvision.</summary>
public sealed class PyTorchFactAttribute : FactAttribute
{
    public PyTorchFactAttribute()
    {
        if (PyTorchAvailability.MissingReason is { } reason)
            Skip = reason;
    }
}
