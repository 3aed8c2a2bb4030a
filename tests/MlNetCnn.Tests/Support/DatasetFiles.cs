using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>Writes small dataset files in the binary formats the readers take: IDX, CIFAR-10 batches and PNG.</summary>
internal static class DatasetFiles
{
    /// <summary>The class names of a key column's KeyValues annotation.</summary>
    public static string[] KeyNames(IDataView data, string column = "Label")
    {
        var names = new VBuffer<ReadOnlyMemory<char>>();
        data.Schema[column].GetKeyValues(ref names);
        return [.. names.DenseValues().Select(n => n.ToString())];
    }

    /// <summary>Writes an IDX file of unsigned bytes: magic 0x08, the dimensions, then <paramref name="data"/>.</summary>
    public static string WriteIdx(string path, int[] dimensions, byte[] data, bool gzip = false, int? magic = null)
    {
        var bytes = new byte[4 + 4 * dimensions.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic ?? 0x0800 | dimensions.Length);
        for (int i = 0; i < dimensions.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dimensions[i]);
        data.CopyTo(bytes, 4 + 4 * dimensions.Length);
        File.WriteAllBytes(path, gzip ? Gzip(bytes) : bytes);
        return path;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
            gzip.Write(bytes);
        return output.ToArray();
    }

    /// <summary>Images of <paramref name="size"/>² where image i is filled with (i * 7 + pixel) % 256, and labels i % classes.</summary>
    public static (byte[] Pixels, byte[] Labels) CountingImages(int count, int size, int classes = 10)
    {
        var pixels = new byte[count * size * size];
        for (int i = 0; i < count; i++)
        {
            for (int p = 0; p < size * size; p++)
                pixels[i * size * size + p] = (byte)((i * 7 + p) % 256);
        }
        return (pixels, Enumerable.Range(0, count).Select(i => (byte)(i % classes)).ToArray());
    }

    /// <summary>Writes a pair of IDX files (images and labels) and returns their paths.</summary>
    public static (string Images, string Labels) WriteIdxPair(string folder, string prefix, byte[] pixels, byte[] labels, int size, bool gzip = false)
    {
        string ext = gzip ? ".gz" : "";
        return (WriteIdx(Path.Combine(folder, $"{prefix}-images-idx3-ubyte{ext}"), [labels.Length, size, size], pixels, gzip),
                WriteIdx(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte{ext}"), [labels.Length], labels, gzip));
    }

    /// <summary>Writes a CIFAR-10 binary batch: per record the label byte, then 3072 pixel bytes (record r, byte p = (r + p) % 256).</summary>
    public static string WriteCifarBatch(string path, byte[] labels, int firstRecord = 0)
    {
        var bytes = new byte[labels.Length * 3073];
        for (int r = 0; r < labels.Length; r++)
        {
            bytes[r * 3073] = labels[r];
            for (int p = 0; p < 3072; p++)
                bytes[r * 3073 + 1 + p] = (byte)((firstRecord + r + p) % 256);
        }
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Writes an 8-bit PNG: grayscale (one byte a pixel) or RGB (three), unfiltered.</summary>
    public static string WritePng(string path, int width, int height, byte[] pixels, bool rgb)
    {
        int channels = rgb ? 3 : 1;
        var raw = new byte[height * (1 + width * channels)];
        for (int y = 0; y < height; y++)
            pixels.AsSpan(y * width * channels, width * channels).CopyTo(raw.AsSpan(y * (1 + width * channels) + 1));
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest))
            zlib.Write(raw);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = (byte)(rgb ? 2 : 0);
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(file, "IHDR", header);
        WriteChunk(file, "IDAT", compressed.ToArray());
        WriteChunk(file, "IEND", []);
        return path;
    }

    /// <summary>
    /// Writes a tiny PNG whose header declares <paramref name="width"/>×<paramref name="height"/> grayscale pixels (valid
    /// chunk CRCs) but whose data holds one row: a decompression bomb's header without the bomb.
    /// </summary>
    public static string WriteOversizedPngHeader(string path, int width, int height)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal))
            zlib.Write(new byte[1 + width]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(file, "IHDR", header);
        WriteChunk(file, "IDAT", compressed.ToArray());
        WriteChunk(file, "IEND", []);
        return path;
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, chunk.AsSpan(4));
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(chunk.AsSpan(4, 4 + data.Length)));
        stream.Write(chunk);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
