using Microsoft.Win32.SafeHandles;
using MlNetCnn.Persistence;
using SkiaSharp;

namespace MlNetCnn;

/// <summary>
/// Checks image files with SkiaSharp, the decoder ML.NET's image transforms use: the header alone (its declared size,
/// against a pixel limit, so a decompression bomb is refused before anything is decoded) or a complete decode; and,
/// without decoding, whether a PNG or JPEG file reaches its end (SkiaSharp decodes a truncated one as black pixels).
/// </summary>
internal static class ImageDecodeCheck
{
    // A whole file's end marker lies in its last bytes, unless data follows (as phones append); PIL accepts that.
    private const int TailBytes = 4096;

    private static readonly byte[] s_pngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    // An IEND chunk: length 0, the type, and the type's fixed CRC.
    private static readonly byte[] s_pngEnd = [0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82];

    private static readonly byte[] s_jpegEnd = [0xFF, 0xD9];

    /// <summary>
    /// Why the file cannot be a whole image, from its first and last bytes, or null: it is not a regular file (a named
    /// pipe would block the decoder), or it is a PNG without its IEND chunk or a JPEG without its end-of-image marker.
    /// Other formats, and files that cannot be read (reported when they are decoded), give null.
    /// </summary>
    public static string? TruncationProblem(string path)
    {
        if (RegularFile.NotRegular(path) is { } kind)
            return $"it is {kind}, not a regular file";
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = RandomAccess.GetLength(handle);
            Span<byte> head = stackalloc byte[s_pngSignature.Length];
            head = head[..RandomAccess.Read(handle, head, 0)];
            bool png = head.SequenceEqual(s_pngSignature), jpeg = head is [0xFF, 0xD8, 0xFF, ..];
            if (!png && !jpeg)
                return null;
            Span<byte> tail = stackalloc byte[(int)Math.Min(TailBytes, length)];
            tail = tail[..RandomAccess.Read(handle, tail, length - tail.Length)];
            if (png)
                return tail.IndexOf(s_pngEnd) >= 0 || PngChunksEnd(handle, length) ? null
                    : "it is truncated: a PNG without its IEND chunk";
            return tail.IndexOf(s_jpegEnd) >= 0 || JpegSegmentsEnd(handle, length) ? null
                : "it is truncated: a JPEG without its end-of-image marker (FF D9)";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether the PNG's chunks, followed by their lengths from the signature on, reach an IEND in the file.</summary>
    private static bool PngChunksEnd(SafeFileHandle handle, long length)
    {
        Span<byte> header = stackalloc byte[8];
        for (long at = s_pngSignature.Length; at + 12 <= length;)
        {
            if (RandomAccess.Read(handle, header, at) < header.Length)
                return false;
            if (header[4..].SequenceEqual("IEND"u8))
                return true;
            at += 12 + System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
        }
        return false;
    }

    /// <summary>
    /// Whether the JPEG's segments, followed from its start marker, reach an end-of-image marker within the file: segments
    /// are skipped by their lengths (so a thumbnail's own marker does not count), and entropy-coded data is scanned for the
    /// next marker (FF 00 is an escaped byte, FF D0–D7 a restart).
    /// </summary>
    private static bool JpegSegmentsEnd(SafeFileHandle handle, long length)
    {
        using var stream = new FileStream(handle, FileAccess.Read, 1 << 16);
        stream.Position = 2;
        while (true)
        {
            int b = stream.ReadByte();
            if (b < 0)
                return false;
            if (b != 0xFF)
                continue;
            int marker;
            do
                marker = stream.ReadByte();
            while (marker == 0xFF);
            if (marker == 0xD9)
                return true;
            if (marker < 0)
                return false;
            if (marker is 0x00 or 0x01 or (>= 0xD0 and <= 0xD8))
                continue;
            int high = stream.ReadByte(), low = stream.ReadByte();
            int segment = high << 8 | low;
            if (low < 0 || segment < 2 || stream.Position + segment - 2 > length)
                return false;
            stream.Position += segment - 2;
        }
    }

    /// <summary>Why the file is too large to decode, from its header alone, or null when it is within the limit or its
    /// header does not parse.</summary>
    public static string? OversizeProblem(string path, long maxPixels)
    {
        try
        {
            using var codec = SKCodec.Create(path, out _);
            return codec is null ? null : Oversize(codec.Info.Width, codec.Info.Height, maxPixels);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Why the file is not a usable image (including too large, checked before decoding), or null when it decodes completely.</summary>
    public static string? Problem(string path, long maxPixels)
    {
        try
        {
            using var codec = SKCodec.Create(path, out var opened);
            if (codec is null)
                return $"not a readable image ({Describe(opened)})";
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Bgra8888, SKAlphaType.Premul);
            if (info.Width <= 0 || info.Height <= 0)
                return $"an image of {info.Width}×{info.Height} pixels";
            if (Oversize(info.Width, info.Height, maxPixels) is { } oversize)
                return oversize;
            using var bitmap = new SKBitmap(info);
            var decoded = codec.GetPixels(info, bitmap.GetPixels());
            return decoded == SKCodecResult.Success ? null : $"its pixel data does not decode ({Describe(decoded)})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return $"it could not be read ({e.Message})";
        }
    }

    private static string? Oversize(int width, int height, long maxPixels)
    {
        long pixels = (long)width * height;
        return pixels <= maxPixels ? null
            : string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"its header declares {width}×{height} = {pixels:N0} pixels ({pixels * 4 / (1 << 20):N0} MB decoded), "
                + $"more than the limit of {maxPixels:N0} (maxImagePixels)");
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the file is truncated",
        SKCodecResult.ErrorInInput => "the data is corrupt",
        SKCodecResult.Unimplemented or SKCodecResult.InvalidInput => "not an image format SkiaSharp decodes",
        _ => result.ToString(),
    };
}
