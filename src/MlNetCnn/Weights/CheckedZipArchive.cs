using System.IO.Compression;

namespace MlNetCnn.Persistence;

/// <summary>
/// A zip archive read as untrusted: its central directory is the forger's to write, so before anything of a declared
/// size is allocated, every entry's compressed bytes must fit in the file (all entries' together, since entries do
/// not share bytes), its size must be what those bytes can expand to, and no name may appear twice (zip readers
/// differ on which copy wins). An entry that expands is read in chunks, so a size its data does not reach is found
/// before a buffer of that size exists. Faults are <see cref="InvalidDataException"/>s naming the file and entry.
/// </summary>
internal sealed class CheckedZipArchive : IDisposable
{
    // Deflate expands at most about 1,032 to 1 (a 258-byte match in under 2 bits); a stored entry not at all.
    private const long MaximumDeflateRatio = 1032, DeflateSlack = 64;

    private const int FirstChunk = 1 << 16;

    private readonly string _path;
    private readonly ZipArchive _archive;
    private readonly Dictionary<string, ZipArchiveEntry> _entries;

    private CheckedZipArchive(string path, ZipArchive archive, Dictionary<string, ZipArchiveEntry> entries)
    {
        _path = path;
        _archive = archive;
        _entries = entries;
    }

    /// <summary>The entries in the order of the central directory.</summary>
    public IReadOnlyList<ZipArchiveEntry> Entries => _archive.Entries;

    /// <summary>Reads the central directory of <paramref name="file"/> (left open) and checks every entry's sizes.</summary>
    public static CheckedZipArchive Open(string path, Stream file)
    {
        long fileLength = file.Length;
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
            _ = archive.Entries.Count; // the central directory is read on first use
        }
        catch (InvalidDataException e)
        {
            throw SafeTensorsFile.Invalid(path, $"its zip structure is damaged ({e.Message})", e);
        }
        try
        {
            var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
            long compressedTotal = 0;
            foreach (var entry in archive.Entries)
            {
                if (!entries.TryAdd(entry.FullName, entry))
                    throw SafeTensorsFile.Invalid(path, $"its archive holds the entry '{entry.FullName}' twice");
                long compressed = entry.CompressedLength, declared = entry.Length;
                if (compressed < 0 || declared < 0 || compressed > fileLength - compressedTotal)
                    throw SafeTensorsFile.Invalid(path, $"its entry '{entry.FullName}' declares {compressed} compressed "
                        + $"bytes; the file has {fileLength} for all its entries, {compressedTotal} taken by those before");
                compressedTotal += compressed;
                if (declared > compressed * MaximumDeflateRatio + DeflateSlack)
                    throw SafeTensorsFile.Invalid(path, $"its entry '{entry.FullName}' declares {declared} bytes from "
                        + $"{compressed} compressed, more than deflate can expand them to");
            }
            return new CheckedZipArchive(path, archive, entries);
        }
        catch
        {
            archive.Dispose();
            throw;
        }
    }

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public ZipArchiveEntry? Find(string name) => _entries.GetValueOrDefault(name);

    /// <summary>The entry's bytes, exactly as many as it declares.</summary>
    public byte[] Read(ZipArchiveEntry entry)
    {
        long declared = entry.Length;
        if (declared > Array.MaxLength)
            throw SafeTensorsFile.Invalid(_path, $"its entry '{entry.FullName}' declares {declared} bytes, "
                + "more than can be read at once");
        try
        {
            using var stream = entry.Open();
            // A stored entry's bytes were counted in the file; only an expanding one can claim more than the file has.
            byte[] bytes = declared <= entry.CompressedLength
                ? ReadStored(stream, (int)declared)
                : ReadExpanding(stream, (int)declared);
            if (stream.ReadByte() != -1)
                throw new InvalidDataException("it holds more bytes than it declares");
            return bytes;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException)
        {
            throw SafeTensorsFile.Invalid(_path, $"its entry '{entry.FullName}' is truncated or damaged ({e.Message})",
                e);
        }
    }

    private static byte[] ReadStored(Stream stream, int declared)
    {
        var bytes = new byte[declared];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Reads into a buffer that doubles only as data arrives: a false size costs a few times the true one.</summary>
    private static byte[] ReadExpanding(Stream stream, int declared)
    {
        var buffer = new byte[Math.Min(declared, FirstChunk)];
        int filled = 0;
        while (filled < declared)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(declared, 2L * buffer.Length));
            int read = stream.Read(buffer, filled, buffer.Length - filled);
            if (read == 0)
                throw new EndOfStreamException($"it ends after {filled} of the {declared} bytes it declares");
            filled += read;
        }
        return buffer;
    }

    public void Dispose() => _archive.Dispose();
}
