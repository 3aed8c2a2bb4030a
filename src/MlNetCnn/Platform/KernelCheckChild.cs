using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MlNetCnn.Platform;

/// <summary>
/// Runs the kernel probe in a child process: the dotnet host runs MlNetCnn.KernelCheckHost (embedded in this assembly,
/// written beside the verdict cache), which loads this MlNetCnn and its TorchSharp from the application's folders and
/// calls <see cref="Run"/>. A kernel that traps ends the child with a signal, which the parent reports as
/// <see cref="KernelCheckOutcome.Crashed"/> instead of dying itself.
/// </summary>
internal static partial class KernelCheckChild
{
    private const string HostResource = "MlNetCnn.KernelCheckHost.dll";
    private const string Done = "done";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>The child's entry (called by the host through reflection): runs the probe and writes its report.</summary>
    internal static int Run(TextWriter output)
    {
        TorchRuntime.EnsureInitialized();
        TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
        if (Environment.GetEnvironmentVariable(KernelCheckRunner.FaultVariable) is { Length: > 0 } faultyCase)
        {
            // SIGFPE stands for oneDNN's divide error: the process ends as that trap in native code ends it (the runtime's
            // handler passes a native fault on to the default action, which a raised signal would not reach).
            if (faultyCase == "SIGFPE")
            {
                _ = Signal(8, IntPtr.Zero);
                _ = Raise(8);
            }
            KernelProbe.InjectedFault = (faultyCase, t => t + 0.1 * t.abs().max());
        }
        foreach (var line in Probe())
            output.WriteLine(line);
        output.WriteLine(Done);
        output.Flush();
        return 0;
    }

    /// <summary>The probe in this process, when no child can be started (no dotnet host: a self-contained or single-file app).</summary>
    internal static Verdict RunHere() => Interpret(Probe().ToList(), "this process (no dotnet host found for a child process)");

    /// <summary>
    /// Runs the probe with the current kernels; when they disagree, turns oneDNN off and checks libtorch's own kernels
    /// in float32 too, so the report says whether the fallback is right.
    /// </summary>
    private static IEnumerable<string> Probe()
    {
        bool bfloat16 = BFloat16Instructions.Supported;
        var fast = KernelProbe.Run(bfloat16);
        foreach (var d in fast)
            yield return FormatDisagreement(d);
        if (fast.Count == 0)
            yield break;
        // A test's injected fault stands for a wrong oneDNN kernel: libtorch's own kernels are checked without it.
        var (wasOn, fault) = (OneDnnSwitch.Enabled, KernelProbe.InjectedFault);
        OneDnnSwitch.Enabled = false;
        KernelProbe.InjectedFault = null;
        try
        {
            foreach (var d in KernelProbe.Run(bfloat16: false))
                yield return "fallback\t" + FormatDisagreement(d);
        }
        finally
        {
            (OneDnnSwitch.Enabled, KernelProbe.InjectedFault) = (wasOn, fault);
        }
    }

    /// <summary>Starts the child and reads its verdict; null when no child can be started here.</summary>
    internal static Verdict? TryRun()
    {
        string? host = DotnetHost();
        string library = typeof(KernelCheckChild).Assembly.Location;
        string torchSharp = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) ?? "";
        if (host is null || library.Length == 0 || torchSharp.Length == 0)
            return null;
        string? entry = WriteHostAssembly();
        if (entry is null)
            return null;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { "exec", "--runtimeconfig",
            Path.ChangeExtension(entry, ".runtimeconfig.json"), entry, library, torchSharp })
            start.ArgumentList.Add(argument);
        foreach (string native in LoadedTorchSharpNative())
            start.ArgumentList.Add(native);
        start.Environment[KernelCheckRunner.ChildVariable] = "1";
        start.Environment.Remove(OneDnnSwitch.EnvironmentVariable);
        using var child = Process.Start(start);
        if (child is null)
            return null;
        var errors = child.StandardError.ReadToEndAsync();
        var report = child.StandardOutput.ReadToEndAsync();
        if (!child.WaitForExit(Timeout))
        {
            child.Kill(entireProcessTree: true);
            return new(KernelCheckOutcome.Crashed, false,
                $"The kernel probe did not finish within {Timeout.TotalSeconds:F0} s.", "a child process", []);
        }
        child.WaitForExit();
        var lines = report.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (child.ExitCode != 0 || lines.LastOrDefault() != Done)
            return Crashed(child.ExitCode, errors.Result);
        return Interpret(lines, "a child process");
    }

    private static Verdict Crashed(int exitCode, string errors)
    {
        // The .NET host reports a child killed by signal N as exit code 128 + N; SIGFPE (8) is oneDNN's divide error.
        string how = exitCode > 128 && exitCode < 160
            ? $"was killed by signal {exitCode - 128}{(exitCode == 136 ? " (SIGFPE: a kernel divided by zero)" : "")}"
            : $"exited with code {exitCode}";
        string tail = string.Join(" ", errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(3)).Trim();
        return new(KernelCheckOutcome.Crashed, false,
            $"The kernel probe's process {how} while running oneDNN's kernels{(tail.Length > 0 ? $": {tail}" : "")}.", "a child process", []);
    }

    private static Verdict Interpret(List<string> lines, string source)
    {
        var disagreements = lines.Where(l => !l.StartsWith("fallback\t", StringComparison.Ordinal))
            .Select(ParseDisagreement).OfType<KernelDisagreement>().ToList();
        int fallbackFaults = lines.Count(l => l.StartsWith("fallback\t", StringComparison.Ordinal));
        int checks = KernelProbe.Cases.Count;
        if (disagreements.Count == 0)
            return new(KernelCheckOutcome.Agreed, true, $"oneDNN matched float64 on all {checks} layer shapes of the built-in networks.", source, []);
        string fallback = fallbackFaults == 0 ? "libtorch's own kernels matched float64 on every shape"
            : $"libtorch's own kernels also disagreed on {fallbackFaults} results: no kernel on this CPU is fully trusted";
        return new(KernelCheckOutcome.Disagreed, false,
            $"oneDNN disagreed with float64 on {disagreements.Count} results of {checks} layer shapes; {fallback}.", source, disagreements);
    }

    internal static string FormatDisagreement(KernelDisagreement d)
        => $"disagree\t{d.What}\t{VerdictCache.Invariant(d.RelativeError)}\t{VerdictCache.Invariant(d.Tolerance)}";

    internal static KernelDisagreement? ParseDisagreement(string line)
    {
        var fields = line.Split('\t');
        if (fields.Length != 4 || fields[0] != "disagree")
            return null;
        var style = NumberStyles.Float;
        return double.TryParse(fields[2], style, CultureInfo.InvariantCulture, out double error)
               && double.TryParse(fields[3], style, CultureInfo.InvariantCulture, out double tolerance)
            ? new KernelDisagreement(fields[1], error, tolerance) : null;
    }

    /// <summary>
    /// The native TorchSharp library this process loaded (found through the application's deps.json, which the child
    /// does not have): the child loads it first, and libtorch with it.
    /// </summary>
    private static IEnumerable<string> LoadedTorchSharpNative()
    {
        using var self = Process.GetCurrentProcess();
        return self.Modules.Cast<ProcessModule>().Select(m => m.FileName)
            .Where(f => Path.GetFileNameWithoutExtension(f) is "libLibTorchSharp" or "LibTorchSharp").Distinct().ToList();
    }

    /// <summary>The dotnet host (muxer) of the running runtime, or null in a self-contained app that has none.</summary>
    private static string? DotnetHost()
    {
        string name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        var candidates = new[]
        {
            Environment.ProcessPath is { } process && Path.GetFileName(process) == name ? process : null,
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"),
            Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", name),
        };
        return candidates.Where(c => !string.IsNullOrEmpty(c) && File.Exists(c)).Select(c => Path.GetFullPath(c!)).FirstOrDefault();
    }

    /// <summary>Writes the embedded host assembly and its runtime configuration (this runtime's version) beside the verdict cache.</summary>
    private static string? WriteHostAssembly()
    {
        using var resource = typeof(KernelCheckChild).Assembly.GetManifestResourceStream(HostResource);
        if (resource is null)
            return null;
        try
        {
            string folder = Path.Combine(VerdictCache.Folder, $"host-{Environment.Version}");
            string entry = Path.Combine(folder, HostResource);
            using (var buffer = new MemoryStream())
            {
                resource.CopyTo(buffer);
                WriteIfChanged(entry, buffer.ToArray());
            }
            string configuration = "{\"runtimeOptions\":{\"tfm\":\"net" + Environment.Version.ToString(2) + "\",\"framework\":" +
                                   "{\"name\":\"Microsoft.NETCore.App\",\"version\":\"" + Environment.Version + "\"}}}";
            WriteIfChanged(Path.ChangeExtension(entry, ".runtimeconfig.json"), Encoding.UTF8.GetBytes(configuration));
            return entry;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Trace.TraceWarning($"MlNetCnn could not write its kernel check's host to {VerdictCache.Folder}: {e.Message}");
            return null;
        }
    }

    private static void WriteIfChanged(string path, byte[] content)
    {
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(content))
            return;
        Persistence.AtomicFile.Write(path, stream => stream.Write(content));
    }

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial IntPtr Signal(int signal, IntPtr handler);

    [LibraryImport("libc", EntryPoint = "raise")]
    private static partial int Raise(int signal);
}
