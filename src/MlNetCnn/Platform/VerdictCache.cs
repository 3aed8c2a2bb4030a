using System.Globalization;
using System.Text;

namespace MlNetCnn.Platform;

/// <summary>
/// The kernel check's verdicts, one small text file per machine fingerprint, libtorch version and probe version, so the
/// probe runs once per machine and every later process reads the verdict in about a millisecond. The folder is
/// <c>MLNETCNN_CACHE_DIR</c> when set, else MlNetCnn's folder under the user's local application data.
/// </summary>
internal static class VerdictCache
{
    internal const string FolderVariable = "MLNETCNN_CACHE_DIR";

    /// <summary>Bumped whenever the probe's cases or tolerances change, so older verdicts are not reused.</summary>
    internal const int ProbeVersion = 1;

    public static string Folder
    {
        get
        {
            if (Environment.GetEnvironmentVariable(FolderVariable) is { Length: > 0 } configured)
                return Path.GetFullPath(configured);
            string local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
            return string.IsNullOrEmpty(local)
                ? Path.Combine(Path.GetTempPath(), $"MlNetCnn-{Environment.UserName}")
                : Path.Combine(local, "MlNetCnn", "kernel-check");
        }
    }

    /// <summary>The machine's CPUID fingerprint, libtorch's (TorchSharp's) version and the probe's version.</summary>
    public static string Key()
    {
        var torchSharp = typeof(TorchSharp.torch).Assembly.GetName().Version;
        return $"{CpuIdentity.Fingerprint()}-torchsharp{torchSharp}-probe{ProbeVersion}";
    }

    public static bool TryRead(string key, out Verdict verdict, out string path)
    {
        path = Path.Combine(Folder, key + ".txt");
        verdict = null!;
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 1 << 20)
                return false;
            var lines = File.ReadAllLines(path, Encoding.UTF8);
            if (lines.Length < 2 || !Enum.TryParse(lines[0], out KernelCheckOutcome outcome) || !Enum.IsDefined(outcome))
                return false;
            var disagreements = new List<KernelDisagreement>();
            foreach (var line in lines.Skip(2))
            {
                if (KernelCheckChild.ParseDisagreement(line) is { } disagreement)
                    disagreements.Add(disagreement);
            }
            verdict = new Verdict(outcome, outcome == KernelCheckOutcome.Agreed, lines[1], path, disagreements);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Writes the verdict atomically; a folder that cannot be written only costs the next process another check.</summary>
    public static void Write(string key, Verdict verdict)
    {
        var text = new StringBuilder().Append(verdict.Outcome).Append('\n').Append(verdict.Reason.ReplaceLineEndings(" ")).Append('\n');
        foreach (var d in verdict.Disagreements)
            text.Append(KernelCheckChild.FormatDisagreement(d)).Append('\n');
        try
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
            Persistence.AtomicFile.Write(Path.Combine(Folder, key + ".txt"), stream => stream.Write(bytes));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            System.Diagnostics.Trace.TraceWarning($"MlNetCnn could not cache the kernel check's verdict in {Folder}: {e.Message}");
        }
    }

    internal static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
