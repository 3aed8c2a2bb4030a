using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MlNetCnn;

/// <summary>
/// Reads image datasets laid out as one folder per class, <c>root/&lt;label&gt;/&lt;image&gt;</c>, or with the splits
/// as folders above them, <c>root/train|test/&lt;label&gt;/&lt;image&gt;</c> (<see cref="LoadSplit"/>).
/// </summary>
/// <remarks>
/// The result has two text columns, <c>ImagePath</c> (absolute path) and <c>Label</c> (the class folder's name), one
/// row per image file, sorted by label then path so results are reproducible. Follow with
/// <see cref="MlNetCnnCatalog.LoadImagesForCnn"/> and <c>MapValueToKey("Label")</c>; the pixels are read lazily, when
/// that pipeline is cursored. Grayscale, RGB and RGBA files can
/// be mixed in one folder. Folders whose name starts with '.' are ignored. Links to folders are followed, except into
/// a folder that contains them (a cycle such as <c>loop -&gt; .</c>), and each file is listed once however many links
/// lead to it (under the first class, in label order, that reaches it). Every image's header is read when listing
/// (no decoding), and an image declaring more than <c>maxImagePixels</c> pixels is refused, or skipped with
/// <see cref="ImageValidation.Skip"/>, so a small file that decompresses to gigabytes never reaches the decoder. So is
/// a truncated PNG (no IEND chunk) or JPEG (no end-of-image marker), found from the file's last bytes: the decoder
/// would fill its missing rows with black. Data after the end marker, as phones append to photos, is accepted.
/// </remarks>
public static class ImageFolder
{
    /// <summary>The image file extensions read by default (case-insensitive).</summary>
    public static IReadOnlyList<string> DefaultExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <summary>
    /// The default largest image, in pixels: 64 M (8,192 × 8,192), 256 MB once decoded to 32-bit pixels as ML.NET's
    /// <c>LoadImages</c> does. It admits any camera photo (today's largest sensors give about 61 M pixels) and refuses
    /// decompression bombs, which declare hundreds of millions of pixels in a few hundred bytes; Pillow's equivalent limit is 89 M.
    /// </summary>
    public const long DefaultMaxImagePixels = 64L << 20;

    /// <summary>Lists the images under <paramref name="root"/> (<c>root/&lt;label&gt;/&lt;image&gt;</c>) as an <see cref="IDataView"/>.</summary>
    /// <param name="mlContext">The ML.NET context; skipped files are reported to its log.</param>
    /// <param name="root">The folder holding one folder per class.</param>
    /// <param name="extensions">The file extensions to read (with the dot, case-insensitive); default
    /// <see cref="DefaultExtensions"/>. Other files are ignored.</param>
    /// <param name="validation">Whether to decode every image now, and what to do with one that fails.</param>
    /// <param name="maxImagePixels">The largest width × height an image's header may declare
    /// (<see cref="DefaultMaxImagePixels"/> by default); a larger image is refused, or skipped with
    /// <see cref="ImageValidation.Skip"/>. Reading the headers (and the last bytes, for truncation) costs tens of
    /// microseconds per image; <see cref="long.MaxValue"/> turns both checks off, and with
    /// <see cref="ImageValidation.None"/> no file is then opened.</param>
    /// <exception cref="DirectoryNotFoundException">The root folder does not exist.</exception>
    /// <returns>A view with <c>ImagePath</c> (the full path) and <c>Label</c> (the class folder's name, as text), one row per image.</returns>
    /// <exception cref="InvalidDataException">The root holds no class folder, a class folder holds no image (the
    /// message names it), an image declares more than <paramref name="maxImagePixels"/> pixels or is truncated (unless
    /// skipped), or (with <see cref="ImageValidation.Throw"/>) an image does not decode.</exception>
    /// <example>
    /// <code>
    /// IDataView images = ImageFolder.Load(ml, "flowers", validation: ImageValidation.Skip); // flowers/&lt;class&gt;/&lt;image&gt;
    /// var (train, validation) = DataSplit.StratifiedTrainValidation(ml, images, 0.2, "Label", seed: 1);
    /// var features = ml.Transforms.LoadImagesForCnn(width: 64, height: 64).Fit(train).Transform(train);
    /// </code>
    /// </example>
    public static IDataView Load(MLContext mlContext, string root, IEnumerable<string>? extensions = null,
        ImageValidation validation = ImageValidation.None, long maxImagePixels = DefaultMaxImagePixels)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        var listing = List(root, extensions, validation, maxImagePixels);
        if (listing.SkippedFiles.Count > 0)
        {
            using var channel = ((IHostEnvironment)mlContext).Register(nameof(ImageFolder)).Start(nameof(Load));
            channel.Warning(MessageSensitivity.None, $"ImageFolder: skipped {listing.SkippedFiles.Count} files under '{listing.Root}' " +
                $"that are truncated, do not decode as images or exceed {maxImagePixels:N0} pixels, e.g. '{listing.SkippedFiles[0]}'.");
        }
        return new ImageFolderDataView(listing);
    }

    /// <summary>
    /// Lists one split of a dataset laid out as <c>root/&lt;split&gt;/&lt;label&gt;/&lt;image&gt;</c>, e.g.
    /// <c>LoadSplit(ml, root, "train")</c> and <c>LoadSplit(ml, root, "test")</c>; the split folder's name matches
    /// case-insensitively. Otherwise as <see cref="Load"/>.
    /// </summary>
    /// <param name="mlContext">The ML.NET context; skipped files are reported to its log.</param>
    /// <param name="root">The folder holding the split folders.</param>
    /// <param name="split">The split folder's name, e.g. <c>train</c>.</param>
    /// <param name="extensions">The file extensions to read; default <see cref="DefaultExtensions"/>.</param>
    /// <param name="validation">Whether to decode every image now, and what to do with one that fails.</param>
    /// <param name="maxImagePixels">The largest width × height an image's header may declare; see <see cref="Load"/>.</param>
    /// <returns>A view with <c>ImagePath</c> and <c>Label</c> (text).</returns>
    /// <exception cref="DirectoryNotFoundException">The root, or its split folder, does not exist; the message lists
    /// the folders there are.</exception>
    /// <exception cref="InvalidDataException">As <see cref="Load"/>.</exception>
    public static IDataView LoadSplit(MLContext mlContext, string root, string split,
        IEnumerable<string>? extensions = null, ImageValidation validation = ImageValidation.None,
        long maxImagePixels = DefaultMaxImagePixels)
        => Load(mlContext, SplitFolder(root, split), extensions, validation, maxImagePixels);

    /// <summary>The <c>train</c> and <c>test</c> splits of <c>root/train|test/&lt;label&gt;/&lt;image&gt;</c>; see <see cref="LoadSplit"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="root">The folder holding <c>train</c> and <c>test</c>.</param>
    /// <param name="extensions">The file extensions to read; default <see cref="DefaultExtensions"/>.</param>
    /// <param name="validation">Whether to decode every image now, and what to do with one that fails.</param>
    /// <param name="maxImagePixels">The largest width × height an image's header may declare; see <see cref="Load"/>.</param>
    /// <returns>The two splits, each with <c>ImagePath</c> and <c>Label</c>.</returns>
    public static (IDataView Train, IDataView Test) LoadTrainTest(MLContext mlContext, string root,
        IEnumerable<string>? extensions = null, ImageValidation validation = ImageValidation.None,
        long maxImagePixels = DefaultMaxImagePixels)
        => (LoadSplit(mlContext, root, "train", extensions, validation, maxImagePixels),
            LoadSplit(mlContext, root, "test", extensions, validation, maxImagePixels));

    /// <summary>The rows <see cref="Load"/> returns, as objects, and the files it skipped.</summary>
    /// <param name="root">The folder holding one folder per class.</param>
    /// <param name="extensions">The file extensions to read; default <see cref="DefaultExtensions"/>.</param>
    /// <param name="validation">Whether to decode every image now, and what to do with one that fails.</param>
    /// <param name="maxImagePixels">The largest width × height an image's header may declare; see <see cref="Load"/>.</param>
    /// <returns>The rows and the skipped files.</returns>
    /// <exception cref="DirectoryNotFoundException">The root folder does not exist.</exception>
    /// <exception cref="InvalidDataException">As <see cref="Load"/>.</exception>
    public static ImageFolderListing List(string root, IEnumerable<string>? extensions = null,
        ImageValidation validation = ImageValidation.None, long maxImagePixels = DefaultMaxImagePixels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImagePixels, 1);
        string fullRoot = Path.GetFullPath(root);
        string layout = Path.Combine(fullRoot, "<label>", "<image>");
        if (!Directory.Exists(fullRoot))
            throw new DirectoryNotFoundException($"The image folder '{fullRoot}' does not exist. Expected a layout of {layout}.");
        var allowed = new HashSet<string>(extensions ?? DefaultExtensions, StringComparer.OrdinalIgnoreCase);
        if (allowed.Count == 0)
            throw new ArgumentException("Give at least one image file extension.", nameof(extensions));
        string described = string.Join(", ", allowed.Order(StringComparer.Ordinal));
        string[] classFolders = VisibleFolders(fullRoot);
        if (classFolders.Length == 0)
            throw new InvalidDataException($"The image folder '{fullRoot}' holds no class folders. Expected a layout of {layout}.");

        var rows = new List<ImageFolderRow>();
        var skipped = new List<string>();
        var listed = ImageFileTree.NewListedSet();
        foreach (string classFolder in classFolders)
        {
            string label = Path.GetFileName(classFolder);
            int before = rows.Count, skippedBefore = skipped.Count;
            foreach (string file in ImageFileTree.Files(classFolder, allowed, listed))
            {
                // Without validation only the header and the last bytes are read, to refuse decompression bombs and
                // truncated files (which decode as black pixels, silently); with it, the whole image too.
                string? problem = validation == ImageValidation.None && maxImagePixels == long.MaxValue ? null
                    : ImageDecodeCheck.TruncationProblem(file) ?? (validation != ImageValidation.None
                        ? ImageDecodeCheck.Problem(file, maxImagePixels) : ImageDecodeCheck.OversizeProblem(file, maxImagePixels));
                if (problem != null)
                {
                    if (validation != ImageValidation.Skip)
                        throw new InvalidDataException($"The image '{file}' cannot be used: {problem}. Remove it, "
                            + "raise maxImagePixels if it is a genuine image, or list the folder with "
                            + "ImageValidation.Skip.");
                    skipped.Add(file);
                    continue;
                }
                rows.Add(new ImageFolderRow { ImagePath = file, Label = label });
            }
            if (rows.Count == before)
            {
                string why = skipped.Count > skippedBefore ? $"; its {skipped.Count - skippedBefore} image files do not decode" : "";
                throw new InvalidDataException($"The class folder '{classFolder}' holds no images ({described}){why}. "
                    + "Remove the folder or add images to it.");
            }
        }
        return new ImageFolderListing(fullRoot, rows, skipped);
    }

    private static string[] VisibleFolders(string folder)
        => Directory.GetDirectories(folder).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();

    private static string SplitFolder(string root, string split)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentException.ThrowIfNullOrWhiteSpace(split);
        string fullRoot = Path.GetFullPath(root);
        if (!Directory.Exists(fullRoot))
            throw new DirectoryNotFoundException($"The dataset folder '{fullRoot}' does not exist. Expected a layout "
                + $"of {Path.Combine(fullRoot, split, "<label>", "<image>")}.");
        string[] folders = VisibleFolders(fullRoot);
        return folders.FirstOrDefault(f => Path.GetFileName(f) == split)
            ?? folders.FirstOrDefault(f => string.Equals(Path.GetFileName(f), split, StringComparison.OrdinalIgnoreCase))
            ?? throw new DirectoryNotFoundException($"The dataset folder '{fullRoot}' has no '{split}' folder (it "
                + "holds "
                + $"{(folders.Length == 0 ? "no folders" : string.Join(", ", folders.Select(Path.GetFileName)))}). "
                + $"Expected a layout of {Path.Combine(fullRoot, split, "<label>", "<image>")}.");
    }
}

/// <summary>One image of an <see cref="ImageFolder"/> dataset.</summary>
public sealed class ImageFolderRow
{
    /// <summary>Absolute path of the image file.</summary>
    public string ImagePath { get; set; } = "";

    /// <summary>The class: the name of the folder directly under the root.</summary>
    public string Label { get; set; } = "";
}

/// <summary>The images of an <see cref="ImageFolder"/> dataset, and the files left out because they do not decode.</summary>
public sealed class ImageFolderListing : IReadOnlyList<ImageFolderRow>
{
    private readonly IReadOnlyList<ImageFolderRow> _rows;

    internal ImageFolderListing(string root, IReadOnlyList<ImageFolderRow> rows, IReadOnlyList<string> skippedFiles)
    {
        Root = root;
        _rows = rows;
        SkippedFiles = skippedFiles;
    }

    /// <summary>The absolute path of the folder listed.</summary>
    public string Root { get; }

    /// <summary>Files with an image extension that did not decode (only with <see cref="ImageValidation.Skip"/>).</summary>
    public IReadOnlyList<string> SkippedFiles { get; }

    /// <inheritdoc />
    public int Count => _rows.Count;

    /// <inheritdoc />
    public ImageFolderRow this[int index] => _rows[index];

    /// <inheritdoc />
    public IEnumerator<ImageFolderRow> GetEnumerator() => _rows.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
