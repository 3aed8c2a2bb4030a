using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;

namespace MlNetCnn;

/// <summary>
/// Reads MNIST-style IDX files (<c>*-images-idx3-ubyte</c> and <c>*-labels-idx1-ubyte</c>, raw or gzip'd; gzip is
/// recognised by its magic bytes 1F 8B, not by the extension) as a lazy <see cref="IDataView"/> that a
/// <see cref="CnnTrainer"/> takes as it is:
/// <list type="bullet">
/// <item><c>Features</c>: Vector&lt;Single, 1, H, W&gt; (H×W from the file header, 28×28 for MNIST), pixels scaled to [0, 1];</item>
/// <item><c>Label</c>: a key over the class names (KeyValues annotation), so no <c>MapValueToKey</c> is needed and
/// <c>MapKeyToValue("PredictedLabel")</c> gives the names back.</item>
/// </list>
/// </summary>
/// <remarks>
/// <see cref="Load(MLContext, string, string, MnistVariant)"/> reads and checks both headers at once (magic numbers
/// 2051 and 2049, counts, dimensions, and the length of raw files). The pixels are decoded into one byte array when the
/// first cursor moves; a truncated or overlong gzip'd file is reported then. Each error names the file.
/// </remarks>
public static class IdxDataset
{
    /// <summary>Magic number of an IDX file of unsigned bytes with 3 dimensions (images).</summary>
    internal const int ImagesMagic = 0x0803;

    /// <summary>Magic number of an IDX file of unsigned bytes with 1 dimension (labels).</summary>
    internal const int LabelsMagic = 0x0801;

    /// <summary>The class names of <see cref="MnistVariant.Mnist"/>: "0" … "9".</summary>
    public static IReadOnlyList<string> DigitClassNames { get; } = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>The class names of <see cref="MnistVariant.FashionMnist"/>, in label order.</summary>
    public static IReadOnlyList<string> FashionClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The class names of a variant.</summary>
    /// <param name="variant">The dataset.</param>
    /// <returns>Its class names in label order.</returns>
    public static IReadOnlyList<string> ClassNames(MnistVariant variant) => variant switch
    {
        MnistVariant.Mnist => DigitClassNames,
        MnistVariant.FashionMnist => FashionClassNames,
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "Unknown MNIST variant."),
    };

    /// <summary>Reads an images file and a labels file; the label key's names come from <paramref name="variant"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="imagesPath">The <c>*-images-idx3-ubyte</c> file, raw or gzip.</param>
    /// <param name="labelsPath">The matching <c>*-labels-idx1-ubyte</c> file, raw or gzip.</param>
    /// <param name="variant">Which dataset, for the class names.</param>
    /// <returns>A lazy view with <c>Features</c> (<c>Vector&lt;Single, 1, H, W&gt;</c> in 0..1) and <c>Label</c> (a key
    /// over the class names).</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A header is wrong (magic number, dimensions, counts that differ, a raw
    /// file of the wrong length); the message names the file.</exception>
    public static IDataView Load(MLContext mlContext, string imagesPath, string labelsPath, MnistVariant variant = MnistVariant.Mnist)
        => Load(mlContext, imagesPath, labelsPath, ClassNames(variant));

    /// <summary>Reads an images file and a labels file whose labels are 0 … <c>classNames.Count - 1</c> (EMNIST, KMNIST, …).</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="imagesPath">The <c>*-images-idx3-ubyte</c> file, raw or gzip.</param>
    /// <param name="labelsPath">The matching <c>*-labels-idx1-ubyte</c> file, raw or gzip.</param>
    /// <param name="classNames">The class names in label order.</param>
    /// <returns>A lazy view with <c>Features</c> and <c>Label</c>.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A header is wrong; the message names the file.</exception>
    public static IDataView Load(MLContext mlContext, string imagesPath, string labelsPath, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count is < 2 or > 256)
            throw new ArgumentOutOfRangeException(nameof(classNames), classNames.Count,
                "Give between 2 and 256 class names (one per label byte value used).");
        var images = IdxHeader.Read(imagesPath, ImagesMagic, "image");
        var labels = IdxHeader.Read(labelsPath, LabelsMagic, "label");
        if (images.Dimensions[0] != labels.Dimensions[0])
            throw new InvalidDataException($"The IDX files disagree on the number of items: '{images.Path}' holds "
                + $"{images.Dimensions[0]} images, '{labels.Path}' holds {labels.Dimensions[0]} labels.");
        var shape = new ImageShape(1, images.Dimensions[1], images.Dimensions[2]);
        string[] names = [.. classNames];
        return new LabeledImageDataView(shape, names, images.Dimensions[0], () =>
        {
            byte[] pixels = images.ReadAll(), labelBytes = labels.ReadAll();
            for (int i = 0; i < labels.Dimensions[0]; i++)
            {
                if (labelBytes[labels.HeaderLength + i] >= names.Length)
                    throw new InvalidDataException($"'{labels.Path}': label {i} is "
                        + $"{labelBytes[labels.HeaderLength + i]}, outside the {names.Length} classes "
                        + $"0..{names.Length - 1}.");
            }
            return new LabeledImageBytes(pixels, images.HeaderLength, labelBytes, labels.HeaderLength, images.Dimensions[0]);
        });
    }

    /// <summary>
    /// Reads one split of a folder holding the four standard files (<c>train-images-idx3-ubyte</c>,
    /// <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c>, <c>t10k-labels-idx1-ubyte</c>, each with or
    /// without <c>.gz</c>), as <see cref="DatasetDownloader"/> or Debian's <c>dataset-fashion-mnist</c> package leave them.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="folder">The folder holding the four files.</param>
    /// <param name="split">Which pair of files to read.</param>
    /// <param name="variant">Which dataset, for the class names.</param>
    /// <returns>A lazy view with <c>Features</c> and <c>Label</c>.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The split's files are not in the folder.</exception>
    public static IDataView Load(MLContext mlContext, string folder, DatasetSplit split, MnistVariant variant = MnistVariant.Mnist)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"The IDX folder '{full}' does not exist.");
        string prefix = split == DatasetSplit.Train ? "train" : "t10k";
        return Load(mlContext, FindFile(full, $"{prefix}-images-idx3-ubyte"), FindFile(full, $"{prefix}-labels-idx1-ubyte"), variant);
    }

    private static string FindFile(string folder, string name)
    {
        foreach (string candidate in new[] { name, name + ".gz", name.Replace("-idx", ".idx", StringComparison.Ordinal) })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path))
                return path;
        }
        throw new FileNotFoundException($"The IDX folder '{folder}' has no '{name}' or '{name}.gz'.", Path.Combine(folder, name));
    }

    /// <summary>An IDX file's checked header, and the means to read the whole file.</summary>
    private sealed record IdxHeader(string Path, bool Gzip, int[] Dimensions)
    {
        private const long MaxDeflateRatio = 1032;

        public int HeaderLength => 4 + 4 * Dimensions.Length;

        public long BodyLength => Dimensions.Aggregate(1L, (product, d) => product * d);

        public static IdxHeader Read(string path, int expectedMagic, string kind)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(path);
            string full = System.IO.Path.GetFullPath(path);
            if (!File.Exists(full))
                throw new FileNotFoundException($"The IDX {kind} file '{full}' does not exist.", full);
            bool gzip = IsGzip(full);
            using var stream = Open(full, gzip);
            Span<byte> prefix = stackalloc byte[4];
            if (!TryFill(stream, prefix, full))
                throw new InvalidDataException($"'{full}' is not an IDX {kind} file: it is shorter than the 4-byte magic number.");
            int magic = BinaryPrimitives.ReadInt32BigEndian(prefix);
            if (magic != expectedMagic)
            {
                string hint = magic == (expectedMagic == ImagesMagic ? LabelsMagic : ImagesMagic)
                    ? $" (it looks like the {(kind == "image" ? "label" : "image")} file)" : "";
                throw new InvalidDataException($"'{full}' is not an IDX {kind} file: magic number {magic} "
                    + $"(0x{magic:X8}), expected {expectedMagic} (0x{expectedMagic:X8}){hint}.");
            }
            int rank = magic & 0xFF;
            var dimensions = new int[rank];
            Span<byte> dimension = stackalloc byte[4];
            for (int i = 0; i < rank; i++)
            {
                if (!TryFill(stream, dimension, full))
                    throw new InvalidDataException($"'{full}' is truncated: its header ends before dimension {i + 1} of {rank}.");
                dimensions[i] = BinaryPrimitives.ReadInt32BigEndian(dimension);
            }
            if (dimensions[0] < 0 || dimensions.Skip(1).Any(d => d <= 0))
                throw new InvalidDataException($"'{full}' has invalid dimensions {string.Join("×", dimensions)}.");
            var header = new IdxHeader(full, gzip, dimensions);
            if (header.HeaderLength + header.BodyLength > Array.MaxLength)
                throw new InvalidDataException($"'{full}' declares {string.Join("×", dimensions)} bytes, more than one array holds.");
            long length = new FileInfo(full).Length, expected = header.HeaderLength + header.BodyLength;
            if (!gzip && length != expected)
                throw new InvalidDataException(header.LengthMessage(length - header.HeaderLength));
            // Deflate expands at most 1,032-fold, so a header declaring more than that is a truncated (or forged) file:
            // say so now rather than allocate what it declares.
            if (gzip && expected > length * MaxDeflateRatio)
                throw new InvalidDataException($"'{full}' is truncated: its header declares " +
                    $"{string.Join("×", dimensions)} = {header.BodyLength} bytes of data, " +
                    $"but a gzip file of {length} bytes decompresses to at most {length * MaxDeflateRatio}.");
            return header;
        }

        /// <summary>Decodes the whole file (header included) into one array.</summary>
        public byte[] ReadAll()
        {
            var bytes = new byte[HeaderLength + BodyLength];
            using var stream = Open(Path, Gzip);
            int read = Fill(stream, bytes, Path);
            if (read < bytes.Length)
                throw new InvalidDataException(LengthMessage(read - HeaderLength));
            if (Fill(stream, new byte[1], Path) > 0)
                throw new InvalidDataException($"'{Path}' holds more data than its header declares ({string.Join("×", Dimensions)} bytes).");
            return bytes;
        }

        private string LengthMessage(long bodyBytes) => bodyBytes < BodyLength
            ? $"'{Path}' is truncated: its header declares {string.Join("×", Dimensions)} = {BodyLength} bytes of "
            + $"data, but it holds {Math.Max(bodyBytes, 0)}."
            : $"'{Path}' holds {bodyBytes} bytes of data, more than the {string.Join("×", Dimensions)} = {BodyLength} its header declares.";

        private static bool IsGzip(string path)
        {
            using var file = File.OpenRead(path);
            return file.ReadByte() == 0x1F && file.ReadByte() == 0x8B;
        }

        private static Stream Open(string path, bool gzip)
        {
            var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            return gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        }

        private static bool TryFill(Stream stream, Span<byte> buffer, string path) => Fill(stream, buffer, path) == buffer.Length;

        /// <summary>Reads until <paramref name="buffer"/> is full or the data ends; returns the bytes read.</summary>
        private static int Fill(Stream stream, Span<byte> buffer, string path)
        {
            try
            {
                return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"'{path}' starts like a gzip file but its compressed data is damaged: {e.Message}", e);
            }
        }
    }
}
