// CIFAR-10 from folders of JPGs: LoadImagesForCnn → NormalizeImages (per-channel mean and standard deviation fitted on
// the training images) → AugmentImages (reflect-padded random crop + horizontal flip, training only) → CnnTrainer
// (scoring each image and its mirror), evaluated by ML.NET on a held-out split (or the test/ folder) and saved with the
// preprocessing. With --download, the official binary batches (Cifar10.Load) replace the folders.
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Cifar10FromFolders;
using MlNetCnn;
using MlNetCnn.Examples;

const string Usage = """
    usage: Cifar10FromFolders (--data <folder or .tar> | --download [--data <folder>]) [--recipe standard|fast [--width N] [--without T]]
                              [--architecture resnet9|vgg11|resnet18] [--epochs N] [--minutes M] [--batch-size N] [--learning-rate X]
                              [--test-time flip|flip-translate|none] [--erasing P] [--precision float32|bfloat16] [--holdout F]
                              [--per-class N] [--output <dir>]
      --data <path>        CIFAR-10 images laid out <class>/<image>, or <root>/train|test/<class>/<image>, or a .tar
                           of either (extracted once next to it, e.g. ../shared/datasets/cifar10-train-jpg.tar)
      --download           download the official binary version instead (163 MB, checksummed, resumable) into --data
                           (default ./data/cifar10) and train on its 50,000 images, evaluating on its 10,000 test images
      --recipe R           standard (default): the network below, crop+flip, SGD-Nesterov one-cycle, label smoothing;
                           fast: airbench94's recipe from library features (AirbenchNet(64) with patch whitening and
                           identity initialization, batch-norm shifts at 64× the rate, Nesterov SGD with a triangle
                           schedule, Lookahead, alternating flips, 2-pixel translations, flips and 1-pixel translations
                           at test time), 10 epochs of batch 1024 by default; --architecture does not apply
      --width N            the fast recipe's network: AirbenchNet(N), N channels in its first group and 4N in the
                           others (default 64, airbench94's; 96 has 2.2× the multiply-adds per image; at most 512)
      --without T          the fast recipe less one technique, for ablations: whitening, identity, norm-rate,
                           lookahead, alternating-flip (then a random flip per image and epoch) or label-smoothing
      --architecture A     resnet9 (ResNet-9 at width 32, 1.65 M parameters; default), vgg11 (VGG-11-BN for CIFAR)
                           or resnet18 (ResNet-18 with the CIFAR stem)
      --epochs N           passes over the training images (default 15; fast: 10; with --minutes, the most: 1,000)
      --minutes M          train as many epochs as fit in M minutes of Fit (CnnTrainerOptions.TimeLimit), planned
                           from the measured speed, with the schedule stretched over them
      --batch-size N       images per step (default 256; fast: 1024)
      --learning-rate X    peak of SGD with Nesterov momentum (default 0.4 for resnet9, 0.1 otherwise; fast: 1.5 at
                           batch 1024, scaled with the batch size)
      --test-time T        flip (default): score every image and its mirror and average the probabilities;
                           flip-translate (fast's default): also both shifted by one pixel (6 views); none
      --erasing P          the probability of erasing (zeroing) a random rectangle of each training image after the
                           crop and flip, a regularizer for long runs (default 0)
      --precision P        bfloat16 (fast's default): convolutions and linear layers train in bfloat16 where the CPU
                           computes it natively (AVX512-BF16, AMX; float32 elsewhere); float32 (default): throughout
      --holdout F          share of every class held out for evaluation when there is no test/ folder (default 0.1)
      --per-class N        use at most N training images per class (default: all), for a quick run (folders only)
      --output <dir>       where model.zip, checkpoints and plots go (default ./output/cifar10)
    """;

return CommandLine.Run(args, Usage,
    ["--data", "--recipe", "--width", "--without", "--architecture", "--epochs", "--minutes", "--batch-size",
        "--learning-rate", "--test-time", "--erasing", "--precision", "--holdout", "--per-class", "--output"],
        ["--download"], Run);

static int Run(CommandLine commandLine)
{
    bool download = commandLine.Flag("--download");
    string data = commandLine.Text("--data") ?? (download ? Path.Combine("data", "cifar10") : throw new DirectoryNotFoundException(
        "Give the CIFAR-10 images with --data (a folder laid out <class>/<image> or train|test/<class>/<image>, or a .tar of one), " +
        "or add --download to fetch the official binary version."));
    bool fast = commandLine.Choice("--recipe", "standard", "standard", "fast") == "fast";
    string? without = commandLine.Text("--without") is null ? null : commandLine.Choice("--without", "", FastRecipe.Techniques);
    if (without != null && !fast)
        throw CommandLine.Usage("--without leaves a technique out of --recipe fast; add --recipe fast.");
    int? width = commandLine.Text("--width") is null ? null : commandLine.PositiveInt("--width", FastRecipe.DefaultWidth);
    if (width != null && !fast)
        throw CommandLine.Usage("--width sets the fast recipe's network; add --recipe fast (or use --architecture).");
    // Checked before the network's weights are allocated: a mistyped width would ask libtorch for terabytes.
    if (width > FastRecipe.MaxWidth)
        throw CommandLine.Usage($"--width needs a whole number from 1 to {FastRecipe.MaxWidth}, not {width} (airbench94's is 64).");
    string architectureName = commandLine.Choice("--architecture", "resnet9", "resnet9", "vgg11", "resnet18");
    const double MaxMinutes = 7 * 24 * 60; // a week: beyond it a limit is a typing error
    double? minutes = commandLine.Text("--minutes") is null ? null : commandLine.Number("--minutes", 0, 0, MaxMinutes);
    int epochs = commandLine.PositiveInt("--epochs", minutes != null ? 1000 : fast ? 10 : 15),
        batchSize = commandLine.PositiveInt("--batch-size", fast ? 1024 : 256);
    double learningRate = commandLine.Number("--learning-rate",
        fast ? FastRecipe.LearningRate(batchSize) : architectureName == "resnet9"
        ? StandardCifarRecipe.ResNet9LearningRate : 0.1, 0, 100);
    var testTime = commandLine.Choice("--test-time", fast ? "flip-translate" : "flip", "flip", "flip-translate", "none") switch
    {
        "flip" => TestTimeAugmentation.HorizontalFlip,
        "flip-translate" => TestTimeAugmentation.HorizontalFlipAndTranslation,
        _ => TestTimeAugmentation.None,
    };
    double erasing = commandLine.InclusiveNumber("--erasing", 0, 0, 1);
    double holdout = commandLine.Number("--holdout", 0.1, 0, 1);
    int perClass = commandLine.PositiveInt("--per-class", int.MaxValue);
    string output = Path.GetFullPath(commandLine.Text("--output") ?? Path.Combine("output", "cifar10"));
    var architecture = fast ? CnnArchitecture.AirbenchNet(width ?? FastRecipe.DefaultWidth) : architectureName switch
    {
        "vgg11" => CnnArchitecture.Vgg11Cifar,
        "resnet18" => CnnArchitecture.ResNet18Cifar,
        _ => CnnArchitecture.ResNet9(32),
    };

    var ml = new MLContext(seed: 1);
    var (train, test, testName) = download
        ? LoadBinary(ml, DatasetDownload.Fetch(KnownDataset.Cifar10, data))
        : LoadImages(ml, CifarFolder.Resolve(data), holdout, perClass);
    int trainCount = RowCount(train), testCount = RowCount(test);
    Console.WriteLine($"Training images: {trainCount}, {testName.ToLowerInvariant()} images: {testCount}");

    // Decoding and normalization are fitted once; the same fitted preprocessing feeds the per-epoch validation.
    var clock = Stopwatch.StartNew();
    // Pixels: planar RGB in 0..1, decoded from the files (folders) or read as they are (binary batches, labels already keys).
    IEstimator<ITransformer> pixels = download
        ? ml.Transforms.CopyColumns("Pixels", "Features")
        : ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.Transforms.LoadImagesForCnn(width: 32, height: 32, outputColumnName: "Pixels"));
    var augmentation = fast ? FastRecipe.Augmentation(without) : StandardCifarRecipe.Augmentation;
    augmentation.ErasingProbability = erasing;
    var preprocessing = pixels
        .Append(ml.Transforms.NormalizeImages("Features", "Pixels"))
        .Append(ml.Transforms.AugmentImages(augmentation))
        .Fit(train);
    var normalizer = preprocessing.OfType<ImageNormalizingTransformer>().Single();
    Console.WriteLine($"Fitted the normalization in {clock.Elapsed.TotalSeconds:F1} s: mean " +
                      $"({string.Join(", ", normalizer.Mean.Select(m => m.ToString("F4")))}), " +
                      $"standard deviation ({string.Join(", ", normalizer.StandardDeviation.Select(s => s.ToString("F4")))})");

    var options = fast ? FastRecipe.Options(architecture, epochs, batchSize, learningRate, without)
        : StandardCifarRecipe.Options(architecture, epochs, batchSize, learningRate);
    options.StandardizeInputs = false; // NormalizeImages already did
    options.ValidationData = preprocessing.Transform(test);
    options.TestTimeAugmentation = testTime; // the saved model scores with it
    // Per-epoch figures score each image once (six views would cost more than a fast epoch's training); the final
    // evaluation below scores with the test-time augmentation.
    options.ValidationTestTimeAugmentation = fast ? TestTimeAugmentation.None : testTime;
    options.TimeLimit = minutes is { } limit ? TimeSpan.FromMinutes(limit) : null;
    options.CheckpointDirectory = Path.Combine(output, "checkpoints");
    options.Seed = 1;
    options.Precision = PrecisionOption.Read(commandLine, fast ? "bfloat16" : "float32");
    string recipe = fast ? FastRecipe.Description + (without is null ? "" : $", without {without}")
        : $"SGD-Nesterov one-cycle peak {learningRate}, label smoothing 0.2, crop+flip augmentation";
    Console.WriteLine($"Training {architecture.Name} ({architecture.Summarize(new ImageShape(3, 32, 32), 10).TotalParameters:N0} parameters), " +
                      $"{(minutes is { } m ? $"as many epochs as fit in {m:0.##} minutes (at most {epochs})" : $"{epochs} epochs")}, batch " +
                      $"{batchSize}, {recipe}{(erasing > 0 ? $", random erasing {erasing}" : "")}, test-time " +
                      $"{testTime}{PrecisionOption.Describe(options.Precision)}");
    clock.Restart();
    using var cnn = TrainingConsole.Run(architecture.Name, progress =>
    {
        options.Progress = progress;
        return new CnnTrainer(ml, options).Fit(preprocessing.Transform(train));
    });
    double fitSeconds = clock.Elapsed.TotalSeconds, epochSeconds = cnn.TrainingHistory.Average(e => e.Duration.TotalSeconds);
    Console.WriteLine($"Fit: {fitSeconds:F0} s in all (image decoding included); {cnn.TrainingHistory.Count} epochs, " +
                      $"{epochSeconds:F1} s per epoch on average, " +
                      $"{trainCount / epochSeconds:F0} images/s (validation pass included)");

    var model = preprocessing.Append(cnn)
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")
            .Fit(cnn.Transform(preprocessing.Transform(test))));
    ModelReport.EvaluateAndSave(ml, model, train.Schema, test, output, testName, imageColumnName: "Pixels");
    return 0;
}

// The official binary batches: data_batch_1..5 to train on, test_batch to evaluate on.
static (IDataView Train, IDataView Test, string TestName) LoadBinary(MLContext ml, string folder)
    => (Cifar10.Load(ml, folder, DatasetSplit.Train), Cifar10.Load(ml, folder, DatasetSplit.Test), "Test");

static int RowCount(IDataView data)
{
    using var cursor = data.GetRowCursor([]);
    int count = 0;
    while (cursor.MoveNext())
        count++;
    return count;
}

// The training images and the images to evaluate on: train/ and test/ when the folder has them, else a stratified holdout.
static (IDataView Train, IDataView Test, string TestName) LoadImages(MLContext ml, string root, double holdout, int perClass)
{
    bool hasSplits = Directory.Exists(Path.Combine(root, "train")) && Directory.Exists(Path.Combine(root, "test"));
    var all = ImageFolder.List(hasSplits ? Path.Combine(root, "train") : root);
    var rows = all.GroupBy(r => r.Label).SelectMany(g => g.Take(perClass)).ToList();
    var train = ml.Data.LoadFromEnumerable(rows);
    if (hasSplits)
        return (train, ImageFolder.LoadSplit(ml, root, "test"), "Test");
    var (kept, heldOut) = DataSplit.StratifiedTrainValidation(ml, train, holdout, seed: 1);
    return (kept, heldOut, "Held-out");
}
