using System.Formats.Tar;

namespace TransferLearning;

/// <summary>
/// A fixed train/test split of a class-per-folder photo set: per class, the first <c>train</c> files by name for
/// training and, after skipping <c>skip</c> more, the next <c>test</c> for testing (a skip of one test split's size gives
/// a validation split for choosing settings that never sees the reported test images). Read from a folder
/// (<c>&lt;class&gt;/&lt;image&gt;</c>, found under single wrapping folders) or straight from a .tar of one, and
/// written once under the output folder as <c>train|test/&lt;class&gt;/&lt;image&gt;</c> through a temporary folder
/// renamed at the end.
/// </summary>
internal static class PhotoSplit
{
    public static string Create(string source, int trainPerClass, int testPerClass, int skipPerClass, string outputFolder)
    {
        string target = Path.Combine(outputFolder,
            skipPerClass == 0 ? $"split-{trainPerClass}-{testPerClass}"
            : $"split-{trainPerClass}-skip{skipPerClass}-{testPerClass}");
        if (Directory.Exists(target))
            return target;
        var files = File.Exists(source) && source.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) ? TarImages(source) : FolderImages(source);
        var chosen = new Dictionary<string, string>(StringComparer.Ordinal); // source name → split/class/file
        foreach (var group in files.GroupBy(f => f.Class))
        {
            var names = group.Select(f => f.Name).Order(StringComparer.Ordinal).ToList();
            if (names.Count < trainPerClass + skipPerClass + testPerClass)
                throw new InvalidDataException($"Class '{group.Key}' in '{source}' has {names.Count} images; the split "
                    + $"needs {trainPerClass} + {skipPerClass} + {testPerClass}.");
            for (int i = 0; i < trainPerClass; i++)
                chosen[group.Key + "/" + names[i]] = Path.Combine("train", group.Key, names[i]);
            for (int i = trainPerClass + skipPerClass; i < trainPerClass + skipPerClass + testPerClass; i++)
                chosen[group.Key + "/" + names[i]] = Path.Combine("test", group.Key, names[i]);
        }
        if (chosen.Count == 0)
            throw new InvalidDataException($"No class folders with images found in '{source}'.");

        string partial = target + ".partial-" + Environment.ProcessId;
        Console.WriteLine($"Writing the split ({trainPerClass} + {testPerClass} images per class) to {target} (once)...");
        if (File.Exists(source))
        {
            using var reader = new TarReader(File.OpenRead(source));
            while (reader.GetNextEntry() is { } entry)
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile
                    && Key(entry.Name) is { } key && chosen.TryGetValue(key, out var relative))
                    Write(Path.Combine(partial, relative), entry.DataStream!);
        }
        else
        {
            foreach (var (cls, name, path) in FolderImages(source))
                if (chosen.TryGetValue(cls + "/" + name, out var relative))
                    using (var stream = File.OpenRead(path!))
                        Write(Path.Combine(partial, relative), stream);
        }
        Directory.Move(partial, target);
        return target;
    }

    private static readonly string[] s_extensions = [".jpg", ".jpeg", ".png", ".bmp"];

    private static bool IsImage(string name) => s_extensions.Contains(Path.GetExtension(name).ToLowerInvariant());

    /// <summary>"class/file" from an archive path ".../class/file".</summary>
    private static string? Key(string entryName)
    {
        var parts = entryName.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && IsImage(parts[^1]) ? parts[^2] + "/" + parts[^1] : null;
    }

    private static List<(string Class, string Name, string? Path)> TarImages(string tar)
    {
        var files = new List<(string, string, string?)>();
        using var reader = new TarReader(File.OpenRead(tar));
        while (reader.GetNextEntry() is { } entry)
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && Key(entry.Name) is { } key)
                files.Add((key[..key.IndexOf('/')], key[(key.IndexOf('/') + 1)..], null));
        return files;
    }

    private static List<(string Class, string Name, string? Path)> FolderImages(string folder)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"'{folder}' is neither a folder nor a .tar file.");
        string root = folder;
        // Step down single wrapping folders (cifar10/train/...) to the class folders.
        while (Directory.GetDirectories(root) is [string only] && Directory.GetFiles(root).Length == 0 && Directory.GetDirectories(only).Length > 0)
            root = only;
        return Directory.GetDirectories(root)
            .SelectMany(d => Directory.GetFiles(d).Where(IsImage).Select(f => (Path.GetFileName(d), Path.GetFileName(f), (string?)f)))
            .ToList();
    }

    private static void Write(string path, Stream data)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        data.CopyTo(file);
    }
}
