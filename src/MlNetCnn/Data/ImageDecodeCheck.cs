using SkiaSharp;

namespace MlNetCnn;

/// <summary>
/// Checks image files with SkiaSharp, the decoder ML.NET's image transforms use: the header alone (its declared size,
/// against a pixel limit, so a decompression bomb is refused before anything is decoded) or a complete decode.
/// </summary>
internal static class ImageDecodeCheck
{
    /// <summary>Why the file is too large to decode, from its header alone, or null when it is within the limit or its header does not parse.</summary>
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
                $"its header declares {width}×{height} = {pixels:N0} pixels ({pixels * 4 / (1 << 20):N0} MB decoded), more than the limit of {maxPixels:N0} (maxImagePixels)");
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the file is truncated",
        SKCodecResult.ErrorInInput => "the data is corrupt",
        SKCodecResult.Unimplemented or SKCodecResult.InvalidInput => "not an image format SkiaSharp decodes",
        _ => result.ToString(),
    };
}
