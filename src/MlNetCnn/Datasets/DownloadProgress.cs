namespace MlNetCnn;

/// <summary>How far a <see cref="DatasetDownloader"/> has come with one file.</summary>
/// <param name="FileName">The file being fetched.</param>
/// <param name="BytesReceived">Bytes of it on disk so far, including those of an earlier, resumed attempt.</param>
/// <param name="TotalBytes">Its full size, when the server said.</param>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes);
