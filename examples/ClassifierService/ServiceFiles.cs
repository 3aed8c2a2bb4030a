using System.Globalization;

namespace ClassifierService;

/// <summary>
/// The service's scratch folder: the probe image, ONNX files of the loaded models and one folder per upload. The
/// pipelines start from an image path, so an upload is scored from a file, with the pipeline's own decoding. The folder
/// is in memory (/dev/shm) where there is one: on a disk, creating and removing each upload's folder cost 4 to 7 ms
/// (measured on this project's machine), 20 times the scoring of a digit.
/// </summary>
public sealed class ServiceFiles : IDisposable
{
    private const string Prefix = "mlnetcnn-classifier-";
    private static readonly string s_base = Directory.Exists("/dev/shm") && IsWritable("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    public ServiceFiles()
    {
        RemoveFoldersOfEndedProcesses();
        Root = Path.Combine(s_base, string.Create(CultureInfo.InvariantCulture,
            $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(Root);
        ProbeImagePath = Path.Combine(Root, "probe.png");
        using var probe = typeof(ServiceFiles).Assembly.GetManifestResourceStream("probe.png")
            ?? throw new InvalidOperationException("The probe image is missing from the assembly's resources.");
        using var file = File.Create(ProbeImagePath);
        probe.CopyTo(file);
    }

    public string Root { get; }

    /// <summary>A digit from the examples' test set, embedded in the assembly: every model scores it before it serves.</summary>
    public string ProbeImagePath { get; }

    /// <summary>A folder for one upload, laid out as ImageFolder lists (root/&lt;class&gt;/&lt;image&gt;); delete it after use.</summary>
    public string NewUploadFolder() => Path.Combine(Root, "uploads", Guid.NewGuid().ToString("N"));

    /// <summary>A file with these bytes, deleted when the returned object is disposed.</summary>
    public OwnedFile NewOwnedFile(string extension, byte[] bytes)
    {
        string path = Path.Combine(Root, Guid.NewGuid().ToString("N") + extension);
        File.WriteAllBytes(path, bytes);
        return new OwnedFile(path);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A file still open elsewhere; the next start removes the folder.
        }
    }

    // A killed service leaves its folder behind; the next one clears it.
    private static void RemoveFoldersOfEndedProcesses()
    {
        foreach (string folder in Directory.EnumerateDirectories(s_base, Prefix + "*"))
        {
            string rest = Path.GetFileName(folder)[Prefix.Length..];
            int dash = rest.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !int.TryParse(rest[..dash], CultureInfo.InvariantCulture, out int pid) || IsRunning(pid))
                continue;
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another service removing it at the same moment, or not ours to remove.
            }
        }
    }

    private static bool IsWritable(string folder)
    {
        try
        {
            string probe = Path.Combine(folder, Prefix + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>A file deleted on disposal.</summary>
public sealed class OwnedFile(string path) : IDisposable
{
    public string Path { get; } = path;

    public void Dispose()
    {
        try
        {
            File.Delete(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Removed with the service's folder at the latest.
        }
    }
}
