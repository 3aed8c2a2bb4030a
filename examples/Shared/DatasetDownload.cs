using MlNetCnn;

namespace MlNetCnn.Examples;

/// <summary>
/// The examples' <c>--download</c>: fetches a dataset with the library's <see cref="DatasetDownloader"/> (resumable,
/// checksummed, written under a temporary name and renamed) and prints a line per file.
/// </summary>
internal static class DatasetDownload
{
    /// <summary>Downloads <paramref name="dataset"/> into <paramref name="folder"/> (files already there are kept) and
    /// returns the folder its reader takes.</summary>
    public static string Fetch(KnownDataset dataset, string folder)
    {
        Console.WriteLine($"Downloading {dataset} into {Path.GetFullPath(folder)} (files already there with the right checksum are kept)...");
        string? lastFile = null;
        using var downloader = new DatasetDownloader
        {
            Progress = new SynchronousProgress(p =>
            {
                if (p.TotalBytes is { } total && p.BytesReceived == total && p.FileName != lastFile)
                {
                    lastFile = p.FileName;
                    Console.WriteLine($"  {p.FileName}: {total / 1e6:F1} MB");
                }
            }),
        };
        return downloader.DownloadAsync(dataset, folder).GetAwaiter().GetResult();
    }

    private sealed class SynchronousProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
