namespace MlNetCnn.Persistence;

/// <summary>
/// Replaces a file so that it holds either the old or the complete new contents, never a mixture: the new contents
/// go to a temporary file in the same folder, are flushed to disk, and the temporary file is renamed over the target
/// (an atomic replacement on one file system). On any failure the temporary file is removed and the old file stays.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The suffix of this library's temporary files; <c>.{name}.{guid}.tmp</c> in the target's folder.</summary>
    internal const string TemporarySuffix = ".tmp";

    /// <summary>Creates or replaces <paramref name="path"/> (and creates its folder) with what <paramref name="write"/>
    /// writes; a failure leaves any old file as it was.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}{TemporarySuffix}");
        try
        {
            // FileShare.None also takes an exclusive advisory lock on Unix, which tells RemoveStale that a writer is alive.
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    /// <summary>
    /// Deletes the temporary files that writes of <paramref name="fileNamePattern"/> (e.g. <c>checkpoint-*.cnnckpt</c>)
    /// left in <paramref name="directory"/> when their process was killed; a file that another live writer holds is kept.
    /// Returns how many were removed.
    /// </summary>
    public static int RemoveStale(string directory, string fileNamePattern)
    {
        if (!Directory.Exists(directory))
            return 0;
        int removed = 0;
        foreach (string file in Directory.EnumerateFiles(directory, $".{fileNamePattern}.*{TemporarySuffix}"))
        {
            try
            {
                // Succeeds only when no writer holds the file (its lock dies with its process).
                using (new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                }
                File.Delete(file);
                removed++;
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return removed;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path))
                File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
