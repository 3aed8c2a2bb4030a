// An image classifier behind HTTP: the main example's saved pipeline (or its ONNX export) behind POST /classify, with
// GET /health, a page at / and live model swaps. docs/serving.md has the options, the tests and the load figures.
using ClassifierService;

if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(ServiceSettings.Usage);
    return 0;
}
var settings = ServiceSettings.Parse(args, out var hostArguments, out string? error);
if (settings is null)
{
    Console.Error.WriteLine($"error: {error}");
    Console.Error.WriteLine(ServiceSettings.Usage);
    return 2;
}
if ((settings.MissingInput() ?? ModelLoading.BuildProblem(settings)) is { } missing)
{
    Console.Error.WriteLine($"error: {missing}");
    return 1;
}

try
{
    if (settings.ExportOnnxPath is { } exportPath)
    {
        using var files = new ServiceFiles();
        var bundle = ModelLoading.ExportOnnx(settings.ModelPath, files);
        bundle.Save(exportPath);
        Console.WriteLine($"Wrote {Path.GetFullPath(exportPath)}: {bundle.Classes.Count} classes, model.onnx " +
                          $"{bundle.Onnx.Length:N0} bytes, image loading {bundle.Preprocessing.Length:N0} bytes.");
        return 0;
    }
    await using var app = ClassifierApp.Create(settings, hostArguments);
    app.Services.GetRequiredService<ModelHost>().LoadFirstModel();
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (e is InvalidDataException or NotSupportedException or FileNotFoundException)
{
    // A model that does not load or fails its check on the probe image: the message names the file and the fault.
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
