// Lists the architecture zoo at one input size (parameters, multiply-accumulates, which ones need larger images),
// or prints one network's layer table with --summary <name>.
using System.Globalization;
using ArchitectureZoo;
using MlNetCnn;

if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(Arguments.Usage);
    return 0;
}
var arguments = Arguments.Parse(args, out var error);
if (arguments is null)
{
    Console.Error.WriteLine(error);
    Console.Error.WriteLine(Arguments.Usage);
    return 2;
}
var shape = new ImageShape(arguments.Channels, arguments.Size, arguments.Size);

if (arguments.SummaryName is { } summaryName)
{
    try
    {
        Console.WriteLine(CnnArchitecture.FromName(summaryName).Summarize(shape, arguments.Classes));
        return 0;
    }
    catch (Exception e) when (e is KeyNotFoundException or ArgumentException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
}

// The parameterized ones are registered on first use; ask for the teaching material's defaults so they are listed.
CnnArchitecture.CnnNFeature();
CnnArchitecture.Mlp();
CnnArchitecture.ResNet9();
CnnArchitecture.ResNet9(32);
var culture = CultureInfo.InvariantCulture;
Console.WriteLine($"Architectures at {shape} inputs, {arguments.Classes} classes (MACs: multiply-accumulates per image, Conv2d and Linear):");
Console.WriteLine();
Console.WriteLine($"{"name",-16} {"min size",9} {"parameters",14} {"MACs",16}");
foreach (var architecture in CnnArchitecture.All)
{
    string minimum = $"{architecture.MinimumImageSize}×{architecture.MinimumImageSize}";
    if (arguments.Size < architecture.MinimumImageSize)
    {
        Console.WriteLine($"{architecture.Name,-16} {minimum,9} {"-",14} {"-",16}  needs at least {minimum}");
        continue;
    }
    var summary = architecture.Summarize(shape, arguments.Classes);
    Console.WriteLine(string.Create(culture,
        $"{architecture.Name,-16} {minimum,9} {summary.TotalParameters,14:N0} {summary.MultiplyAccumulates,16:N0}"));
}
Console.WriteLine();
Console.WriteLine("One network's layers: --summary <name> (any name above, in any case; CnnNFeature<n>, Mlp<hidden> "
    + "and ResNet9-<width> take other numbers too)");
return 0;
