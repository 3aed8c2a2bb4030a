using Microsoft.ML;

namespace MlNetCnn;

/// <summary>
/// Reads the CIFAR-10 binary batches (<c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>, <c>test_batch.bin</c>; each
/// record is 1 label byte and 3,072 pixel bytes, the R, G and B planes of a 32×32 image) as a lazy
/// <see cref="IDataView"/> that a <see cref="CnnTrainer"/> takes as it is:
/// <list type="bullet">
/// <item><c>Features</c>: Vector&lt;Single, 3, 32, 32&gt;, planar RGB (the file's own layout, and ExtractPixels'), scaled to [0, 1];</item>
/// <item><c>Label</c>: a key over the class names (KeyValues annotation): those of <c>batches.meta.txt</c> beside the
/// batches when it is there, else <see cref="ClassNames"/>.</item>
/// </list>
/// </summary>
/// <remarks>
/// File sizes (a whole number of 3,073-byte records) are checked by <c>Load</c>; the files are read into memory when
/// the first cursor moves, and a label outside the classes is reported then. Each error names the file.
/// </remarks>
public static class Cifar10
{
    /// <summary>Bytes of one record: the label and 3×32×32 pixels.</summary>
    internal const int RecordLength = 1 + 3 * 32 * 32;

    /// <summary>The shape of one image.</summary>
    public static ImageShape Shape { get; } = new(3, 32, 32);

    /// <summary>The CIFAR-10 class names, in label order.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The name of the class-name file that comes with the binary batches.</summary>
    internal const string MetaFileName = "batches.meta.txt";

    /// <summary>
    /// Reads one split of a folder of binary batches: <c>data_batch_*.bin</c> (in batch order) for
    /// <see cref="DatasetSplit.Train"/>, <c>test_batch.bin</c> for <see cref="DatasetSplit.Test"/>. A folder that
    /// holds the archive's <c>cifar-10-batches-bin</c> folder works too.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="folder">The folder holding the binary batches (or the extracted archive's folder above them).</param>
    /// <param name="split">Which batches to read.</param>
    /// <returns>A lazy view with <c>Features</c> (<c>Vector&lt;Single, 3, 32, 32&gt;</c>, planar RGB in 0..1) and
    /// <c>Label</c> (a key over the class names).</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The split's batches are not in the folder.</exception>
    /// <exception cref="InvalidDataException">A batch's size is not a whole number of records, or the meta file is unusable.</exception>
    public static IDataView Load(MLContext mlContext, string folder, DatasetSplit split)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"The CIFAR-10 folder '{full}' does not exist.");
        string nested = Path.Combine(full, "cifar-10-batches-bin");
        if (!File.Exists(Path.Combine(full, "test_batch.bin")) && Directory.Exists(nested))
            full = nested;
        string[] files = split == DatasetSplit.Train
            ? Directory.GetFiles(full, "data_batch_*.bin").OrderBy(BatchNumber).ThenBy(f => f, StringComparer.Ordinal).ToArray()
            : Directory.GetFiles(full, "test_batch.bin");
        if (files.Length == 0)
            throw new FileNotFoundException($"The CIFAR-10 folder '{full}' has no "
                + $"{(split == DatasetSplit.Train ? "data_batch_*.bin" : "test_batch.bin")} (the binary version, "
                + "cifar-10-binary.tar.gz).", full);
        return Load(mlContext, files);
    }

    /// <summary>
    /// Reads the given batch files, in order. Class names come from <paramref name="classNames"/>, else from
    /// <c>batches.meta.txt</c> beside the first file, else <see cref="ClassNames"/>.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="batchFiles">The batch files to read, in order.</param>
    /// <param name="classNames">The class names in label order; null to read them from <c>batches.meta.txt</c> or use the CIFAR-10 names.</param>
    /// <returns>A lazy view with <c>Features</c> and <c>Label</c>, as the other overload.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A file's size is not a whole, non-zero number of 3,073-byte records.</exception>
    public static IDataView Load(MLContext mlContext, IEnumerable<string> batchFiles, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(batchFiles);
        string[] files = batchFiles.Select(Path.GetFullPath).ToArray();
        if (files.Length == 0)
            throw new ArgumentException("Give at least one CIFAR-10 batch file.", nameof(batchFiles));
        var counts = new int[files.Length];
        long total = 0;
        for (int f = 0; f < files.Length; f++)
        {
            if (!File.Exists(files[f]))
                throw new FileNotFoundException($"The CIFAR-10 batch '{files[f]}' does not exist.", files[f]);
            long length = new FileInfo(files[f]).Length;
            if (length == 0 || length % RecordLength != 0)
                throw new InvalidDataException($"'{files[f]}' is not a CIFAR-10 binary batch: its {length} bytes are not a "
                    + $"whole number of {RecordLength}-byte records (1 label byte + 3×32×32 pixels)"
                    + (length % RecordLength == 0 ? "" : $"; {length % RecordLength} bytes left over, so it may be truncated")
                    + ".");
            counts[f] = (int)(length / RecordLength);
            total += counts[f];
        }
        if (total * Shape.Size > Array.MaxLength)
            throw new InvalidDataException($"The {files.Length} CIFAR-10 batches hold {total} images, more than one array holds.");
        string[] names = [.. classNames ?? ReadMeta(Path.Combine(Path.GetDirectoryName(files[0])!, MetaFileName)) ?? ClassNames];
        if (names.Length is < 2 or > 256)
            throw new ArgumentOutOfRangeException(nameof(classNames), names.Length, "Give between 2 and 256 class names.");
        return new LabeledImageDataView(Shape, names, (int)total, () => Decode(files, counts, (int)total, names.Length));
    }

    private static LabeledImageBytes Decode(string[] files, int[] counts, int total, int classCount)
    {
        int size = Shape.Size;
        var pixels = new byte[(long)total * size];
        var labels = new byte[total];
        int row = 0;
        for (int f = 0; f < files.Length; f++)
        {
            byte[] records = File.ReadAllBytes(files[f]);
            if (records.Length != (long)counts[f] * RecordLength)
                throw new InvalidDataException($"'{files[f]}' changed size since it was opened: {records.Length} "
                    + $"bytes, expected {(long)counts[f] * RecordLength}.");
            for (int r = 0; r < counts[f]; r++, row++)
            {
                byte label = records[r * RecordLength];
                if (label >= classCount)
                    throw new InvalidDataException($"'{files[f]}': record {r} has label {label}, outside the "
                        + $"{classCount} classes 0..{classCount - 1}.");
                labels[row] = label;
                records.AsSpan(r * RecordLength + 1, size).CopyTo(pixels.AsSpan(row * size, size));
            }
        }
        return new LabeledImageBytes(pixels, 0, labels, 0, total);
    }

    /// <summary>The class names of a <c>batches.meta.txt</c> (one per line, blank lines ignored), or null when there is none.</summary>
    private static string[]? ReadMeta(string path)
    {
        if (!File.Exists(path))
            return null;
        string[] names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length < 2)
            throw new InvalidDataException($"'{path}' should list the class names one per line, but it holds {names.Length}.");
        return names;
    }

    private static int BatchNumber(string path)
        => int.TryParse(Path.GetFileNameWithoutExtension(path).AsSpan("data_batch_".Length), out int n) ? n : int.MaxValue;
}
