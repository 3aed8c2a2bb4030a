// A network with two image inputs in one ML.NET pipeline: every digit is cut by ML.NET's own ResizeImages (iso-crop
// anchored at the top, then at the bottom) into its top and bottom halves, two image columns of 1×14×28. The
// TwoBranch architecture gives each half its own VGG-style branch and classifies from both. For contrast the same
// network is trained with the top half in both inputs: what the bottom half adds is the difference.
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using MlNetCnn;
using MlNetCnn.Examples;

const string Usage = """
    usage: TwoBranch [--data <root>] [--epochs N] [--output <dir>]
      --data <root>    digits laid out train|test/<label>/<image> (default: the MNIST sample in examples/MnistFromFolders/data)
      --epochs N       at most this many passes over the training images (default 30); training stops early when the
                       validation accuracy (10% of the training images, held out) has not improved for 4 epochs
      --output <dir>   where model.zip and the plots go (default ./output/two-branch)
    """;

return CommandLine.Run(args, Usage, ["--data", "--epochs", "--output"], Run);

static int Run(CommandLine commandLine)
{
    string root = commandLine.Text("--data") ?? MnistSample.Locate();
    int epochs = commandLine.PositiveInt("--epochs", 30);
    string output = Path.GetFullPath(commandLine.Text("--output") ?? Path.Combine("output", "two-branch"));
    var ml = new MLContext(seed: 1);
    var (train, test) = ImageFolder.LoadTrainTest(ml, root);

    EstimatorChain<KeyToValueMappingTransformer> Pipeline(string firstHalf, string secondHalf, string? checkpoints,
        IProgress<TrainingProgress> progress)
    {
        var options = new CnnTrainerOptions
        {
            Architecture = CnnArchitecture.TwoBranch, Epochs = epochs, Seed = 1, CheckpointDirectory = checkpoints, Progress = progress,
            ValidationFraction = 0.1,
            EarlyStopping = new EarlyStoppingOptions { Metric = TrainingMetric.ValidationAccuracy, Patience = 4 }, // and restore the best epoch
            LearningRateSchedule = LearningRateSchedule.ReduceOnPlateau(factor: 0.3, patience: 2),
            // Concatenate keeps the values but not the image shape: the channels follow from the size given here.
            ImageHeight = 14, ImageWidth = 28,
        };
        return ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ResizeImages("TopImage", 28, 14, "Image", ImageResizingEstimator.ResizingKind.IsoCrop,
                ImageResizingEstimator.Anchor.Top))
            .Append(ml.Transforms.ResizeImages("BottomImage", 28, 14, "Image",
                ImageResizingEstimator.ResizingKind.IsoCrop, ImageResizingEstimator.Anchor.Bottom))
            .Append(ml.Transforms.ExtractPixels("Top", "TopImage", ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
            .Append(ml.Transforms.ExtractPixels("Bottom", "BottomImage", ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
            .Append(ml.Transforms.Concatenate("Features", firstHalf, secondHalf))
            .Append(ml.MulticlassClassification.Trainers.Cnn(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    }

    Console.WriteLine($"Training TwoBranch on the top and bottom halves of {Path.GetFullPath(root)}, at most {epochs} epochs");
    using var model = TrainingConsole.Run("TwoBranch (top, bottom)",
        progress => Pipeline("Top", "Bottom", Path.Combine(output, "checkpoints"), progress).Fit(train));
    var metrics = ModelReport.EvaluateAndSave(ml, model, train.Schema, test, output, imageColumnName: "Top");
    var cnn = model.GetCnnTransformer();
    var best = cnn.TrainingHistory.MaxBy(e => e.ValidationAccuracy)!;
    Console.WriteLine($"Trained {cnn.TrainingHistory.Count} epochs; kept the weights of epoch {best.Epoch} (validation "
        + $"accuracy {best.ValidationAccuracy:F4}).");
    Console.WriteLine(cnn.Summary());

    Console.WriteLine("Contrast: the same network with the top half in both inputs");
    using var topOnly = TrainingConsole.Run("TwoBranch (top, top)", progress => Pipeline("Top", "Top", null, progress).Fit(train));
    double topOnlyAccuracy = ml.MulticlassClassification.Evaluate(topOnly.Transform(test)).MicroAccuracy;
    Console.WriteLine();
    Console.WriteLine($"Test accuracy: both halves {metrics.MicroAccuracy:F4}, top half only {topOnlyAccuracy:F4}");
    return 0;
}
