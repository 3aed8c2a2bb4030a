using Microsoft.ML;

namespace MlNetCnn;

/// <summary>Reads image datasets laid out as one folder per class: <c>root/&lt;label&gt;/&lt;image&gt;</c>.</summary>
public static class ImageFolder
{
    /// <summary>The image file extensions read by default (case-insensitive).</summary>
    public static IReadOnlyList<string> DefaultExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <summary>
    /// Lists the images under <paramref name="root"/> as an <see cref="IDataView"/> with <c>ImagePath</c> (absolute
    /// path) and <c>Label</c> (the folder name) text columns, sorted by label then path so results are reproducible.
    /// Follow with <c>LoadImages("Image", null, "ImagePath")</c>, <c>ResizeImages</c> and <c>ExtractPixels</c>.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The root folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The root holds no class folder with an image.</exception>
    public static IDataView Load(MLContext mlContext, string root, IEnumerable<string>? extensions = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return mlContext.Data.LoadFromEnumerable(List(root, extensions));
    }

    /// <summary>The rows <see cref="Load"/> returns, as objects.</summary>
    public static IReadOnlyList<ImageFolderRow> List(string root, IEnumerable<string>? extensions = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        string fullRoot = Path.GetFullPath(root);
        if (!Directory.Exists(fullRoot))
            throw new DirectoryNotFoundException($"The image folder '{fullRoot}' does not exist. Expected a layout of {Path.Combine(fullRoot, "<label>", "<image>")}.");
        var allowed = new HashSet<string>(extensions ?? DefaultExtensions, StringComparer.OrdinalIgnoreCase);
        var rows = new List<ImageFolderRow>();
        foreach (string classFolder in Directory.GetDirectories(fullRoot).Order(StringComparer.Ordinal))
        {
            string label = Path.GetFileName(classFolder);
            rows.AddRange(Directory.EnumerateFiles(classFolder, "*", SearchOption.AllDirectories)
                .Where(f => allowed.Contains(Path.GetExtension(f)))
                .Order(StringComparer.Ordinal)
                .Select(f => new ImageFolderRow { ImagePath = f, Label = label }));
        }
        if (rows.Count == 0)
            throw new InvalidDataException($"The image folder '{fullRoot}' holds no images ({string.Join(", ", allowed)}) in class subfolders. Expected a layout of {Path.Combine(fullRoot, "<label>", "<image>")}.");
        return rows;
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
