using System.Globalization;

namespace MnistFromFolders;

/// <summary>The command line: <c>[--data &lt;root&gt;] [--epochs N] [--batch-size N] [--output &lt;dir&gt;]</c>.</summary>
internal sealed record Arguments(string? DataRoot, int Epochs, int BatchSize, string OutputFolder)
{
    public const string Usage = """
        usage: MnistFromFolders [--data <root>] [--epochs N] [--batch-size N] [--output <dir>]
          --data <root>     a folder with train/ and test/ subfolders laid out <label>/<image>
                            (default: the MNIST sample in examples/MnistFromFolders/data)
          --epochs N        passes over the training images (default 5)
          --batch-size N    images per optimization step (default 64)
          --output <dir>    where model.zip is written (default: ./output)
        """;

    /// <summary>Parses <paramref name="args"/>; on failure returns null and says why in <paramref name="error"/>.</summary>
    public static Arguments? Parse(string[] args, out string? error)
    {
        var result = new Arguments(null, 5, 64, Path.Combine(Directory.GetCurrentDirectory(), "output"));
        error = null;
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i];
            if (i + 1 >= args.Length)
            {
                error = $"error: {name} needs a value.";
                return null;
            }
            string value = args[i + 1];
            switch (name)
            {
                case "--data":
                    result = result with { DataRoot = value };
                    break;
                case "--output":
                    result = result with { OutputFolder = value };
                    break;
                case "--epochs" when PositiveInt(value) is { } epochs:
                    result = result with { Epochs = epochs };
                    break;
                case "--batch-size" when PositiveInt(value) is { } batchSize:
                    result = result with { BatchSize = batchSize };
                    break;
                case "--epochs" or "--batch-size":
                    error = $"error: {name} needs a positive whole number, not '{value}'.";
                    return null;
                default:
                    error = $"error: unknown argument '{name}'.";
                    return null;
            }
        }
        return result;
    }

    private static int? PositiveInt(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;
}
