// MNIST from folders: trains LeNet-5 in an ML.NET pipeline on digits laid out <label>/<image>, evaluates it on the
// test folder, saves the model, reloads it in a fresh MLContext and predicts single images with a PredictionEngine.
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn;
using MlNetCnn.Examples;
using MnistFromFolders;

if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(Arguments.Usage);
    return 0;
}
var arguments = Arguments.Parse(args, out string? error);
if (arguments is null)
{
    Console.Error.WriteLine(error);
    Console.Error.WriteLine(Arguments.Usage);
    return 2;
}

try
{
    return Run(arguments);
}
catch (Exception e) when (e is DirectoryNotFoundException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

static int Run(Arguments arguments)
{
    string dataRoot = arguments.DataRoot ?? MnistSample.Locate();
    string testRoot = Path.Combine(dataRoot, "test");

    var ml = new MLContext(seed: 1);
    var (train, test) = ImageFolder.LoadTrainTest(ml, dataRoot);
    long trainCount = train.GetColumn<string>("ImagePath").LongCount();
    Console.WriteLine($"Data: {Path.GetFullPath(dataRoot)} ({trainCount} training images, "
        + $"{test.GetColumn<string>("ImagePath").LongCount()} test images)");

    var options = new CnnTrainerOptions
    {
        Architecture = CnnArchitecture.LeNet5, Epochs = arguments.Epochs, BatchSize = arguments.BatchSize,
        CheckpointDirectory = Path.Combine(arguments.OutputFolder, "checkpoints"),
    };
    // ImagePath → Features: each file loaded, resized to 28×28, made grayscale, pixels scaled to 0..1 (Vector<Single, 1, 28, 28>).
    var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
        .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
        .Append(ml.MulticlassClassification.Trainers.Cnn(options))
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    Console.WriteLine($"Training LeNet-5 (epochs: {arguments.Epochs}, batch size: {arguments.BatchSize})");
    var clock = Stopwatch.StartNew();
    using var model = TrainingConsole.Run("LeNet-5", progress =>
    {
        options.Progress = progress;
        return pipeline.Fit(train);
    });
    clock.Stop();
    double loopSeconds = model.GetCnnTransformer().TrainingHistory.Sum(e => e.Duration.TotalSeconds);
    long imagesSeen = trainCount * arguments.Epochs;
    Console.WriteLine($"Training time: {clock.Elapsed.TotalSeconds:F1} s, {imagesSeen / clock.Elapsed.TotalSeconds:F0} images/s " +
                      $"(image decoding included; the epochs alone: {loopSeconds:F1} s, {imagesSeen / loopSeconds:F0} images/s)");

    var metrics = ModelReport.EvaluateAndSave(ml, model, train.Schema, test, arguments.OutputFolder);
    string modelPath = Path.GetFullPath(Path.Combine(arguments.OutputFolder, "model.zip"));

    return CheckReloadedModel(modelPath, testRoot, metrics) ? 0 : 1;
}

// Loads the saved model in a fresh MLContext, predicts a few single images and re-evaluates the test set.
static bool CheckReloadedModel(string modelPath, string testRoot, MulticlassClassificationMetrics original)
{
    var ml = new MLContext();
    var model = ml.Model.LoadCnnModel(modelPath, out _); // Model.Load, with a damaged file reported as one InvalidDataException naming it
    try
    {
        using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
        var rows = ImageFolder.List(testRoot);
        Console.WriteLine();
        Console.WriteLine("Predictions of the reloaded model:");
        for (int i = 0; i < 5; i++)
        {
            var row = rows[i * rows.Count / 5];
            var prediction = engine.Predict(new ImageInput { ImagePath = row.ImagePath, Label = row.Label });
            Console.WriteLine($"  {row.ImagePath}: true {row.Label}, predicted {prediction.PredictedLabel} "
                + $"(probability {prediction.Score.Max():F4})");
        }

        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ImageFolder.Load(ml, testRoot)));
        bool same = metrics.MicroAccuracy == original.MicroAccuracy;
        Console.WriteLine($"Reloaded model micro accuracy: {metrics.MicroAccuracy:F4} "
            + $"({(same ? "same as" : "DIFFERENT from")} the trained model's {original.MicroAccuracy:F4})");
        return same;
    }
    finally
    {
        (model as IDisposable)?.Dispose();
    }
}
