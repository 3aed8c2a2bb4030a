using System.Globalization;

namespace MlNetCnn.Examples;

/// <summary>
/// The examples' command line: <c>--name value</c> pairs from a fixed set of names and <c>--flag</c>s without a value,
/// with typed reads that explain a bad value. <see cref="Run"/> wraps an example's body: <c>-h</c> prints the usage, a
/// bad argument exits 2 and a data error (missing folder, unreadable file) exits 1 with its message instead of a stack
/// trace.
/// </summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string> _values;

    private CommandLine(Dictionary<string, string> values) => _values = values;

    /// <summary>Parses <paramref name="args"/>, runs <paramref name="body"/> and returns the process exit code.</summary>
    public static int Run(string[] args, string usage, IReadOnlyCollection<string> names, Func<CommandLine, int> body)
        => Run(args, usage, names, [], body);

    /// <summary>As above, with <paramref name="flags"/>: names that take no value.</summary>
    public static int Run(string[] args, string usage, IReadOnlyCollection<string> names,
        IReadOnlyCollection<string> flags, Func<CommandLine, int> body)
    {
        if (args.Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(usage);
            return 0;
        }
        try
        {
            return body(Parse(args, names, flags));
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine(usage);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static CommandLine Parse(string[] args, IReadOnlyCollection<string> names, IReadOnlyCollection<string> flags)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (flags.Contains(args[i]))
            {
                values[args[i]] = "";
                continue;
            }
            if (!names.Contains(args[i]))
                throw new UsageException($"unknown argument '{args[i]}'.");
            if (i + 1 >= args.Length)
                throw new UsageException($"{args[i]} needs a value.");
            values[args[i]] = args[++i];
        }
        return new CommandLine(values);
    }

    /// <summary>Whether the flag <paramref name="name"/> was given.</summary>
    public bool Flag(string name) => _values.ContainsKey(name);

    /// <summary>The text given for <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public string? Text(string name, string? fallback = null) => _values.GetValueOrDefault(name, fallback!);

    /// <summary>A positive whole number given for <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public int PositiveInt(string name, int fallback)
        => !_values.TryGetValue(name, out string? text) ? fallback
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
            : throw new UsageException($"{name} needs a positive whole number, not '{text}'.");

    /// <summary>A number in (<paramref name="minimum"/>, <paramref name="maximum"/>) given for <paramref name="name"/>,
    /// or <paramref name="fallback"/>.</summary>
    public double Number(string name, double fallback, double minimum = 0, double maximum = double.MaxValue)
        => !_values.TryGetValue(name, out string? text) ? fallback
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x > minimum && x < maximum ? x
            : throw new UsageException($"{name} needs a number between {minimum} and {maximum} (exclusive), not '{text}'.");

    /// <summary>A number in [<paramref name="minimum"/>, <paramref name="maximum"/>] given for <paramref name="name"/>,
    /// or <paramref name="fallback"/>: for settings whose bounds are meaningful values (0 = off, 1 = all).</summary>
    public double InclusiveNumber(string name, double fallback, double minimum, double maximum)
        => !_values.TryGetValue(name, out string? text) ? fallback
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && x >= minimum && x <= maximum ? x
            : throw new UsageException($"{name} needs a number from {minimum} to {maximum}, not '{text}'.");

    /// <summary>One of <paramref name="choices"/> (case-insensitive) given for <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public string Choice(string name, string fallback, params string[] choices)
    {
        string text = _values.GetValueOrDefault(name, fallback);
        return choices.FirstOrDefault(c => string.Equals(c, text, StringComparison.OrdinalIgnoreCase))
            ?? throw new UsageException($"{name} must be one of {string.Join(", ", choices)}, not '{text}'.");
    }

    /// <summary>An error about how the options were combined, reported like any other bad command line.</summary>
    public static Exception Usage(string message) => new UsageException(message);

    // A bad command line, as opposed to an ArgumentException from the library, which is a bug worth a stack trace.
    private sealed class UsageException(string message) : Exception(message);
}
