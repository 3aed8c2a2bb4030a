using System.Globalization;

namespace ArchitectureZoo;

/// <summary>The command line: <c>[--channels C] [--size S] [--classes K] [--summary &lt;name&gt;] [--help]</c>.</summary>
internal sealed record Arguments(int Channels, int Size, int Classes, string? SummaryName)
{
    public const string Usage = """
        usage: ArchitectureZoo [--channels C] [--size S] [--classes K] [--summary <name>]
          --channels C      input channels, 1 or 3 (default 3)
          --size S          input height and width in pixels (default 32)
          --classes K       output classes (default 10)
          --summary <name>  print the layer table of one architecture instead of the list; the name as the list shows it,
                            in any case: ResNet18Cifar, resnet9-32, CnnNFeature6, Mlp8, ...
          -h, --help        show this text
        """;

    private static readonly string[] s_numberOptions = ["--channels", "--size", "--classes"];

    /// <summary>Parses <paramref name="args"/>; on failure returns null and says why in <paramref name="error"/>.</summary>
    public static Arguments? Parse(string[] args, out string? error)
    {
        // Every option takes a value: read them as name/value pairs, then check each.
        error = args.Length % 2 == 1 ? $"error: {args[^1]} needs a value." : null;
        var values = args.Chunk(2).Where(pair => pair.Length == 2).GroupBy(pair => pair[0])
            .ToDictionary(g => g.Key, g => g.Last()[1]); // the last one wins
        error ??= values.Keys.Where(name => name != "--summary" && !s_numberOptions.Contains(name))
            .Select(name => $"error: unknown argument '{name}'.").FirstOrDefault();
        error ??= s_numberOptions.Where(name => values.TryGetValue(name, out var text) && PositiveInt(text) is null)
            .Select(name => $"error: {name} needs a positive whole number, not '{values[name]}'.").FirstOrDefault();
        if (error is not null)
            return null;
        int Number(string name, int fallback) => values.TryGetValue(name, out var text) ? PositiveInt(text)!.Value : fallback;
        return new Arguments(Number("--channels", 3), Number("--size", 32), Number("--classes", 10), values.GetValueOrDefault("--summary"));
    }

    private static int? PositiveInt(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;
}
