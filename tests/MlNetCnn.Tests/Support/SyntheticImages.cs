using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>
/// Writes small labelled image datasets the tests can learn from: each class is a distinct stroke pattern
/// (horizontal bar, vertical bar, diagonal, ...) drawn at a random position with noise, saved as PNG files under
/// root/&lt;class&gt;/&lt;n&gt;.png.
/// </summary>
internal static class SyntheticImages
{
    public static readonly string[] ClassNames = ["horizontal", "vertical", "diagonal", "cross"];

    public static string CreateFolder(string root, int perClass, int size = 28, int classes = 3, int seed = 7, bool color = false)
    {
        var random = new Random(seed);
        for (int c = 0; c < classes; c++)
        {
            string folder = Path.Combine(root, ClassNames[c]);
            Directory.CreateDirectory(folder);
            for (int i = 0; i < perClass; i++)
            {
                using var image = MLImage.CreateFromPixels(size, size, MLPixelFormat.Bgra32, Draw(c, size, random, color));
                image.Save(Path.Combine(folder, $"{i:D4}.png"));
            }
        }
        return root;
    }

    /// <summary>BGRA pixels of one pattern of class <paramref name="cls"/>.</summary>
    public static byte[] Draw(int cls, int size, Random random, bool color)
    {
        var gray = new byte[size * size];
        for (int i = 0; i < gray.Length; i++)
            gray[i] = (byte)random.Next(0, 40);
        int offset = random.Next(size / 4, 3 * size / 4);
        for (int t = 2; t < size - 2; t++)
        {
            switch (cls)
            {
                case 0: Paint(gray, size, offset, t); break;
                case 1: Paint(gray, size, t, offset); break;
                case 2: Paint(gray, size, t, t); break;
                default: Paint(gray, size, offset, t); Paint(gray, size, t, offset); break;
            }
        }
        var bgra = new byte[size * size * 4];
        for (int i = 0; i < gray.Length; i++)
        {
            bgra[4 * i] = gray[i];
            bgra[4 * i + 1] = color ? (byte)(255 - gray[i]) : gray[i];
            bgra[4 * i + 2] = gray[i];
            bgra[4 * i + 3] = 255;
        }
        return bgra;
    }

    private static void Paint(byte[] gray, int size, int row, int column)
    {
        for (int d = -1; d <= 1; d++)
        {
            if (row + d >= 0 && row + d < size)
                gray[(row + d) * size + column] = 230;
        }
    }
}
