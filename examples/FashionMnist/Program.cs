// Fashion-MNIST from its IDX files: IdxDataset → NormalizeImages (mean and standard deviation fitted on the training
// images) → AugmentImages (horizontal flip, training only) → CnnTrainer (AdamW, one-cycle) → ML.NET's evaluation.
using System.Diagnostics;
using FashionMnist;
using Microsoft.ML;
using MlNetCnn;
using MlNetCnn.Examples;

const string Usage = """
    usage: FashionMnist [--data <folder>] [--download] [--architecture cnn|resnet18] [--epochs N] [--batch-size N]
                        [--learning-rate X] [--train-images N] [--output <dir>]
      --data <folder>      the four Fashion-MNIST IDX files (train-/t10k-images-idx3-ubyte[.gz], ...-labels-idx1-ubyte[.gz]);
                           default: the first of ../shared/datasets/fashion-mnist (from the current folder or one of
                           its parents) and /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) that exists
      --download           download the four files (30 MB, checksummed, resumable) into --data (default ./data/fashion-mnist)
                           first; files already there are kept
      --architecture A     cnn (468k parameters, defined in FashionCnn.cs; default) or resnet18 (ResNet-18, CIFAR stem)
      --epochs N           passes over the training images (default 10)
      --batch-size N       images per step (default 128)
      --learning-rate X    one-cycle peak of AdamW (default 4e-3 for cnn, 2e-3 for resnet18)
      --train-images N     train on the first N training images only (default: all 60,000), for a quick run
      --output <dir>       where model.zip, checkpoints and plots go (default ./output/fashion-mnist)
    """;

return CommandLine.Run(args, Usage,
    ["--data", "--architecture", "--epochs", "--batch-size", "--learning-rate", "--train-images", "--output"],
    ["--download"], Run);

static int Run(CommandLine commandLine)
{
    string folder = commandLine.Flag("--download")
        ? DatasetDownload.Fetch(KnownDataset.FashionMnist, commandLine.Text("--data") ?? Path.Combine("data", "fashion-mnist"))
        : commandLine.Text("--data") ?? LocateDataset();
    string architectureName = commandLine.Choice("--architecture", "cnn", "cnn", "resnet18");
    var architecture = architectureName == "cnn" ? FashionCnn.Architecture : CnnArchitecture.ResNet18Cifar;
    int epochs = commandLine.PositiveInt("--epochs", 10), batchSize = commandLine.PositiveInt("--batch-size", 128);
    double learningRate = commandLine.Number("--learning-rate", architectureName == "cnn" ? 4e-3 : 2e-3, 0, 1);
    int trainImages = commandLine.PositiveInt("--train-images", int.MaxValue);
    string output = Path.GetFullPath(commandLine.Text("--output") ?? Path.Combine("output", "fashion-mnist"));

    var ml = new MLContext(seed: 1);
    var clock = Stopwatch.StartNew();
    var train = ml.Data.TakeRows(IdxDataset.Load(ml, folder, DatasetSplit.Train, MnistVariant.FashionMnist), trainImages);
    var test = IdxDataset.Load(ml, folder, DatasetSplit.Test, MnistVariant.FashionMnist);
    var preprocessing = ml.Transforms.CopyColumns("Pixels", "Features")
        .Append(ml.Transforms.NormalizeImages("Features", "Pixels"))
        .Append(ml.Transforms.AugmentImages(new ImageAugmentationOptions { HorizontalFlipProbability = 0.5 }))
        .Fit(train);
    var normalizer = preprocessing.OfType<ImageNormalizingTransformer>().Single();
    Console.WriteLine($"Read {folder} and fitted the normalization in {clock.Elapsed.TotalSeconds:F1} s: " +
                      $"mean {normalizer.Mean[0]:F4}, standard deviation {normalizer.StandardDeviation[0]:F4}");

    var options = new CnnTrainerOptions
    {
        Architecture = architecture,
        Epochs = epochs,
        BatchSize = batchSize,
        Optimizer = CnnOptimizer.AdamW,
        WeightDecay = 1e-2,
        LearningRate = learningRate,
        LearningRateSchedule = LearningRateSchedule.OneCycle(),
        StandardizeInputs = false, // NormalizeImages already did
        // The teaching material's per-epoch test accuracy; nothing is selected on it (no early stopping).
        ValidationData = preprocessing.Transform(test),
        CheckpointDirectory = Path.Combine(output, "checkpoints"),
        Seed = 1,
    };
    var summary = architecture.Summarize(new ImageShape(1, 28, 28), 10);
    Console.WriteLine($"Training {architecture.Name} ({summary.TotalParameters:N0} parameters), {epochs} epochs, batch "
        + $"{batchSize}, AdamW one-cycle peak {learningRate}");
    clock.Restart();
    using var cnn = TrainingConsole.Run(architecture.Name, progress =>
    {
        options.Progress = progress;
        return new CnnTrainer(ml, options).Fit(preprocessing.Transform(train));
    });
    Console.WriteLine($"Fit: {clock.Elapsed.TotalSeconds:F0} s; {cnn.TrainingHistory.Average(e => e.Duration.TotalSeconds):F1} s per epoch " +
                      "(the test pass after every epoch included)");
    Console.WriteLine("Test accuracy per epoch: " + string.Join(", ", cnn.TrainingHistory.Select(e => $"{e.ValidationAccuracy:F4}")));

    var scoring = preprocessing.Append(cnn);
    var model = scoring.Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(scoring.Transform(test)));
    ModelReport.EvaluateAndSave(ml, model, train.Schema, test, output, imageColumnName: "Pixels");
    return 0;
}

// The shared copy of the dataset, or Debian's package.
static string LocateDataset()
{
    for (var folder = new DirectoryInfo(Directory.GetCurrentDirectory()); folder is not null; folder = folder.Parent)
    {
        string candidate = Path.Combine(folder.FullName, "shared", "datasets", "fashion-mnist");
        if (Directory.Exists(candidate))
            return candidate;
    }
    const string debian = "/usr/share/datasets/fashion-mnist";
    return Directory.Exists(debian) ? debian : throw new DirectoryNotFoundException(
        $"Fashion-MNIST was not found in ../shared/datasets/fashion-mnist or {debian}. Add --download to fetch it " +
        "(into ./data/fashion-mnist, or the --data folder), pass --data <folder>, or install Debian's dataset-fashion-mnist.");
}
