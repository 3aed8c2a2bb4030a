namespace MlNetCnn;

/// <summary>One file a <see cref="DatasetDownloader"/> fetches: its name, where it is published and its checksum.</summary>
public sealed class DatasetFile
{
    /// <summary>Describes a file.</summary>
    /// <param name="fileName">The name it is saved under (no folders).</param>
    /// <param name="urls">Where it can be fetched, tried in order (a mirror after a failure).</param>
    /// <param name="checksum">Its published digest in hex: MD5 (32 digits) or SHA-256 (64 digits).</param>
    /// <exception cref="ArgumentException">A name with folders, no URL, or a checksum that is neither MD5 nor SHA-256 hex.</exception>
    public DatasetFile(string fileName, IEnumerable<Uri> urls, string checksum)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentException.ThrowIfNullOrWhiteSpace(checksum);
        if (Path.GetFileName(fileName) != fileName)
            throw new ArgumentException($"'{fileName}' must be a file name without folders.", nameof(fileName));
        Urls = [.. urls];
        if (Urls.Count == 0)
            throw new ArgumentException($"Give at least one URL for '{fileName}'.", nameof(urls));
        if (checksum.Length is not (32 or 64) || !checksum.All(Uri.IsHexDigit))
            throw new ArgumentException($"The checksum of '{fileName}' must be MD5 (32 hex digits) or SHA-256 (64 hex "
                + $"digits), not '{checksum}'.", nameof(checksum));
        FileName = fileName;
        Checksum = checksum.ToLowerInvariant();
    }

    /// <summary>The name it is saved under.</summary>
    public string FileName { get; }

    /// <summary>Where it can be fetched, in the order they are tried.</summary>
    public IReadOnlyList<Uri> Urls { get; }

    /// <summary>The published digest, lower-case hex.</summary>
    public string Checksum { get; }

    /// <summary>"MD5" or "SHA-256", from the checksum's length.</summary>
    public string ChecksumAlgorithm => Checksum.Length == 32 ? "MD5" : "SHA-256";

    /// <inheritdoc />
    public override string ToString() => $"{FileName} ({ChecksumAlgorithm} {Checksum})";
}
