using SkiaSharp;

namespace MlNetCnn;

/// <summary>Decodes an image file completely (SkiaSharp, the decoder ML.NET's image transforms use) to tell whether it is usable.</summary>
internal static class ImageDecodeCheck
{
    /// <summary>Why the file is not a usable image, or null when it decodes completely.</summary>
    public static string? Problem(string path)
    {
        try
        {
            using var codec = SKCodec.Create(path, out var opened);
            if (codec is null)
                return $"not a readable image ({Describe(opened)})";
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Bgra8888, SKAlphaType.Premul);
            if (info.Width <= 0 || info.Height <= 0)
                return $"an image of {info.Width}×{info.Height} pixels";
            using var bitmap = new SKBitmap(info);
            var decoded = codec.GetPixels(info, bitmap.GetPixels());
            return decoded == SKCodecResult.Success ? null : $"its pixel data does not decode ({Describe(decoded)})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return $"it could not be read ({e.Message})";
        }
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the file is truncated",
        SKCodecResult.ErrorInInput => "the data is corrupt",
        SKCodecResult.Unimplemented or SKCodecResult.InvalidInput => "not an image format SkiaSharp decodes",
        _ => result.ToString(),
    };
}
