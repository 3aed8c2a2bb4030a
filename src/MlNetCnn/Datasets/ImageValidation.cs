namespace MlNetCnn;

/// <summary>What <see cref="ImageFolder"/> does about files that do not decode as images.</summary>
/// <remarks>
/// ML.NET's <c>LoadImages</c> fails on such a file only when its pixels are read, with an
/// <see cref="ArgumentException"/> "Invalid input stream contents (Parameter 'imageStream')" that does not name the
/// file (wrapped in an <see cref="InvalidOperationException"/> when the cursor is parallel), and it silently accepts a
/// truncated PNG. Checking up front decodes every image once, so it costs about one extra read of the data.
/// </remarks>
public enum ImageValidation
{
    /// <summary>
    /// Read only each image's header and last bytes (fast): an image over the pixel limit or truncated (a PNG without
    /// IEND, a JPEG without its end-of-image marker) throws an <see cref="InvalidDataException"/> naming it; other
    /// damage fails later, in <c>LoadImages</c>.
    /// </summary>
    None,

    /// <summary>Decode every image now and throw an <see cref="InvalidDataException"/> naming the first one that fails.</summary>
    Throw,

    /// <summary>
    /// Decode every image now and leave out those that fail or are truncated;
    /// <see cref="ImageFolderListing.SkippedFiles"/> lists them and <c>Load</c> logs their count.
    /// </summary>
    Skip,
}
