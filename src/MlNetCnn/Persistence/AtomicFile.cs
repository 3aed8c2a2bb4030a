namespace MlNetCnn.Persistence;

/// <summary>Writes a file through a temporary file in the same folder, flushed and then renamed over the target.</summary>
internal static class AtomicFile
{
    /// <summary>Creates <paramref name="path"/> (and its folder) with what <paramref name="write"/> writes; a failure leaves any old file as it was.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        string temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }
}
