using System.Formats.Tar;

namespace Cifar10FromFolders;

/// <summary>Finds the image root in what <c>--data</c> names: a folder, or a .tar that is extracted once beside itself.</summary>
internal static class CifarFolder
{
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full) && full.EndsWith(".tar", StringComparison.OrdinalIgnoreCase))
            full = Extract(full);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"'{full}' is neither a folder nor a .tar file.");
        // The shared archive holds cifar10/train/<class>/...; step down single folders until the class folders (or train/test) show.
        while (Directory.GetDirectories(full) is [string only] && !IsSplit(only)
            && Directory.GetDirectories(only).Length > 0 && Directory.GetFiles(full).Length == 0)
            full = only;
        return full;
    }

    private static bool IsSplit(string folder) => Path.GetFileName(folder) is "train" or "test"
        && Directory.Exists(Path.Combine(Path.GetDirectoryName(folder)!, "test"));

    // Extracts into <archive>.extracted (or a folder under the temp directory when the archive's folder is read-only),
    // through a temporary folder renamed at the end, so an interrupted extraction is never taken for a complete one.
    private static string Extract(string archive)
    {
        string name = Path.GetFileNameWithoutExtension(archive);
        foreach (string parent in new[] { Path.GetDirectoryName(archive)!, Path.Combine(Path.GetTempPath(), "mlnetcnn-datasets") })
        {
            string target = Path.Combine(parent, name);
            if (Directory.Exists(target))
                return target;
            string partial = target + ".partial-" + Environment.ProcessId;
            try
            {
                Directory.CreateDirectory(partial);
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            Console.WriteLine($"Extracting {archive} to {target} (once)...");
            TarFile.ExtractToDirectory(archive, partial, overwriteFiles: false);
            Directory.Move(partial, target);
            return target;
        }
        throw new IOException($"Could not extract '{archive}': no writable folder beside it or in the temp directory.");
    }
}
