namespace MlNetCnn;

/// <summary>The shape of one input image: channels × height × width, stored planar (CHW) as ExtractPixels does.</summary>
/// <param name="Channels">Colour planes (1 for grayscale, 3 for RGB).</param>
/// <param name="Height">Rows of pixels.</param>
/// <param name="Width">Columns of pixels.</param>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Values per image: C×H×W.</summary>
    public int Size => Channels * Height * Width;

    /// <inheritdoc />
    public override string ToString() => $"{Channels}×{Height}×{Width}";
}
