using ClassifierService;
using Microsoft.ML;

namespace MlNetCnn.Service.Tests;

/// <summary>
/// Two small saved pipelines of the main example's shape (ImagePath → LoadImagesForCnn → MapValueToKey → LeNet-5 →
/// MapKeyToValue), trained once per test run for one epoch on the embedded digits: <see cref="Digits"/> with the
/// classes "0".."9", and <see cref="Renamed"/> with "digit-0".."digit-9", so an answer tells which model gave it.
/// </summary>
internal sealed class TrainedModels
{
    private static readonly Lazy<TrainedModels> s_shared = new(() => new TrainedModels());

    private TrainedModels()
    {
        Folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-service-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteFolder();
        var rows = ImageFolder.List(Path.Combine(DigitImages.Root, "train"));
        Digits = Train(rows, label => label, "digits.zip");
        // A tenth of the rows is enough for a model that only has to answer with other names.
        Renamed = Train(rows.Where((_, i) => i % 10 == 0).ToList(), label => "digit-" + label, "renamed.zip");
        using var files = new ServiceFiles();
        DigitsOnnxBundle = Path.Combine(Folder, "digits.onnx.zip");
        ModelLoading.ExportOnnx(Digits, files).Save(DigitsOnnxBundle);
    }

    public static TrainedModels Shared => s_shared.Value;

    public string Folder { get; }

    /// <summary>Classes "0".."9".</summary>
    public string Digits { get; }

    /// <summary>Classes "digit-0".."digit-9".</summary>
    public string Renamed { get; }

    /// <summary>The ONNX bundle of <see cref="Digits"/>, as --export-onnx writes it.</summary>
    public string DigitsOnnxBundle { get; }

    private string Train(IReadOnlyList<ImageFolderRow> rows, Func<string, string> name, string fileName)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new ImageFolderRow { ImagePath = r.ImagePath, Label = name(r.Label) }));
        var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions { Epochs = 1, BatchSize = 32, Seed = 2 }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        using var model = pipeline.Fit(data);
        string path = Path.Combine(Folder, fileName);
        ml.Model.SaveAtomically(model, data.Schema, path);
        return path;
    }

    private void DeleteFolder()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The digits shipped with the examples (examples/MnistFromFolders/data/train|test/&lt;digit&gt;/).</summary>
internal static class DigitImages
{
    public static string Root { get; } = Locate();

    /// <summary>The first <paramref name="perClass"/> test images of every digit, by name.</summary>
    public static IReadOnlyList<string> Test(int perClass)
        => [.. Enumerable.Range(0, 10).SelectMany(d => Directory.GetFiles(Path.Combine(Root, "test", $"{d}"), "*.png")
            .Order(StringComparer.Ordinal).Take(perClass))];

    private static string Locate()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            string candidate = Path.Combine(folder.FullName, "examples", "MnistFromFolders", "data");
            if (Directory.Exists(Path.Combine(candidate, "train")))
                return candidate;
        }
        throw new DirectoryNotFoundException($"examples/MnistFromFolders/data was not found above {AppContext.BaseDirectory}.");
    }
}
