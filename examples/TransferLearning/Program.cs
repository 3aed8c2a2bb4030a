// Transfer learning: ML.NET's own ImageNet-pretrained ResNet-18 (the ONNX model in the NuGet package
// Microsoft.ML.DnnImageFeaturizer.ResNet18, imported onto CnnArchitecture.ResNet(2, 2, 2, 3)) fine-tuned on a small
// photo set: the backbone frozen for the first epoch, then its later half trained at 0.3 of the head's learning
// rate (its first half keeps the ImageNet weights), with the model's own preprocessing applied inside the network, at
// 160×160 in bfloat16 mixed precision where the CPU computes bfloat16 natively. In
// the same run, on the same split, it measures ML.NET's usual path (DnnFeaturizeImage with the same ResNet-18, frozen,
// then LbfgsMaximumEntropy) and the library's best from-scratch network (ResNet-9 at 32×32, as Cifar10FromFolders
// trains it).
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn;
using MlNetCnn.Examples;
using TransferLearning;

const string Usage = """
    usage: TransferLearning [--data <folder or .tar>] [--size N] [--epochs N] [--freeze-epochs N] [--batch-size N]
                            [--learning-rate X] [--backbone-factor X] [--frozen-fraction X] [--weight-decay X] [--erasing P]
                            [--mixup A] [--cutmix A] [--mix-probability P] [--label-smoothing X] [--lookahead] [--seed N]
                            [--precision float32|bfloat16]
                            [--train-per-class N] [--test-per-class N] [--baselines all|mlnet|scratch|none]
                            [--evaluate-on test|validation] [--fine-tune on|off] [--output <dir>]
      --data <path>          photos laid out <class>/<image> (under single wrapping folders), or a .tar of them
                             (default ../shared/datasets/cifar10-train-jpg.tar)
      --train-per-class N    the first N files by name of every class train (default 500)
      --test-per-class N     the next N test (default 200)
      --evaluate-on E        test (default) or validation: the N files after the test files, for choosing settings
                             without looking at the test images
      --size N               the fine-tuned network's input size; images are resized to N×N (default 160 where the
                             CPU computes bfloat16 natively and --precision is bfloat16, else 128: the size that
                             fits twice ML.NET's time)
      --epochs N             fine-tuning epochs (default 6), of which --freeze-epochs N train the new head only (default 1)
      --batch-size N         images per step (default 64)
      --learning-rate X      AdamW's peak rate for the head (default 2e-3)
      --backbone-factor X    the backbone's rate as a share of the head's once it is unfrozen (default 0.3)
      --frozen-fraction X    the share of the backbone's layers, from the input, never fine-tuned (default 0.5)
      --weight-decay X       AdamW's decoupled weight decay (default 0.01)
      --erasing P            the probability of erasing a random rectangle of each training image (default 0)
      --mixup A, --cutmix A  mix training images and labels in pairs (Mixup, CutMix) with shares drawn from Beta(A, A);
                             0 (default) is off; with both, each mixed batch uses one of the two
      --mix-probability P    the share of batches mixed (default 1)
      --label-smoothing X    of the cross-entropy loss (default 0.1)
      --lookahead            average the weights with Lookahead (LookaheadOptions' defaults)
      --precision P          bfloat16 (default): convolutions and linear layers train in bfloat16 where the CPU
                             computes it natively (AVX512-BF16, AMX), float32 elsewhere; float32: throughout
      --seed N               the fine-tuning's seed: head initialization, shuffling, augmentation (default 1)
      --baselines B          also run ML.NET's DnnFeaturizeImage + LbfgsMaximumEntropy (mlnet), ResNet-9 from scratch
                             at 32×32 for 15 epochs (scratch), both (all, default) or none
      --fine-tune on|off     off runs only the baselines (e.g. in a second process beside a fine-tuning run)
      --output <dir>         where the split, model.zip and plots go (default ./output/transfer)
    """;

return CommandLine.Run(args, Usage,
    ["--data", "--size", "--epochs", "--freeze-epochs", "--batch-size", "--learning-rate", "--backbone-factor",
        "--frozen-fraction", "--weight-decay", "--erasing", "--mixup", "--cutmix", "--mix-probability",
        "--label-smoothing", "--precision", "--seed", "--train-per-class", "--test-per-class", "--evaluate-on",
        "--baselines", "--fine-tune", "--output"], ["--lookahead"], Run);

static int Run(CommandLine commandLine)
{
    string data = Path.GetFullPath(commandLine.Text("--data") ?? Path.Combine("..", "shared", "datasets", "cifar10-train-jpg.tar"));
    var precision = PrecisionOption.Read(commandLine, "bfloat16");
    // bfloat16 trains about 1.6 times the images per second, which buys 160 px instead of 128 in the same time.
    int size = commandLine.PositiveInt("--size", PrecisionOption.RunsInBFloat16(precision) ? 160 : 128),
        epochs = commandLine.PositiveInt("--epochs", 6);
    int freezeEpochs = (int)commandLine.InclusiveNumber("--freeze-epochs", 1, 0, 1000), batchSize = commandLine.PositiveInt("--batch-size", 64);
    var recipe = new FineTuning(
        commandLine.Number("--learning-rate", 2e-3, 0, 10), commandLine.InclusiveNumber("--backbone-factor", 0.3, 0, 1),
        commandLine.InclusiveNumber("--frozen-fraction", 0.5, 0, 1),
        commandLine.InclusiveNumber("--weight-decay", 0.01, 0, 1), commandLine.InclusiveNumber("--erasing", 0, 0, 1),
        commandLine.InclusiveNumber("--mixup", 0, 0, 100), commandLine.InclusiveNumber("--cutmix", 0, 0, 100),
        commandLine.InclusiveNumber("--mix-probability", 1, 0, 1),
        commandLine.InclusiveNumber("--label-smoothing", 0.1, 0, 0.99), commandLine.Flag("--lookahead"), commandLine.PositiveInt("--seed", 1),
        precision);
    int trainPerClass = commandLine.PositiveInt("--train-per-class", 500), testPerClass = commandLine.PositiveInt("--test-per-class", 200);
    bool validation = commandLine.Choice("--evaluate-on", "test", "test", "validation") == "validation";
    string baselines = commandLine.Choice("--baselines", "all", "all", "mlnet", "scratch", "none");
    bool fineTune = commandLine.Choice("--fine-tune", "on", "on", "off") == "on";
    string output = Path.GetFullPath(commandLine.Text("--output") ?? Path.Combine("output", "transfer"));
    if (!File.Exists(data) && !Directory.Exists(data))
        throw new FileNotFoundException($"'{data}' does not exist; give the photos with --data.");

    string split = PhotoSplit.Create(data, trainPerClass, testPerClass, validation ? testPerClass : 0, output);
    var ml = new MLContext(seed: 1);
    var (train, test) = ImageFolder.LoadTrainTest(ml, split);
    Console.WriteLine($"Split: {trainPerClass} training and {testPerClass} {(validation ? "validation" : "test")} "
        + $"images per class from {data} ({split}); {Environment.ProcessorCount} cores");

    var results = new List<(string Name, double Accuracy, double Seconds)>();
    if (fineTune)
        results.Add(FineTune(ml, train, test, size, epochs, freezeEpochs, batchSize, recipe, Path.Combine(output, "fine-tuned")));
    if (baselines is "all" or "mlnet")
        results.Add(MlNetFeaturizer(ml, train, test));
    if (baselines is "all" or "scratch")
        results.Add(FromScratch(ml, train, test));

    Console.WriteLine();
    Console.WriteLine($"{"method",-62} {"accuracy",9} {"wall time",10}");
    foreach (var (name, accuracy, seconds) in results)
        Console.WriteLine($"{name,-62} {accuracy,9:F4} {seconds,8:F0} s");
    if (fineTune && results.Count > 1 && results[1].Name.StartsWith("ML.NET", StringComparison.Ordinal))
        Console.WriteLine($"Fine-tuning took {results[0].Seconds / results[1].Seconds:F2}× the time of ML.NET's featurize-and-train.");
    return 0;
}

// ML.NET's pretrained ResNet-18 fine-tuned end to end (decoding, training and the test evaluation all timed).
static (string, double, double) FineTune(MLContext ml, IDataView train, IDataView test, int size, int epochs,
    int freezeEpochs, int batchSize, FineTuning recipe, string output)
{
    var clock = Stopwatch.StartNew();
    using var weights = PretrainedWeights.MlNetResNet18();
    var augmentation = ImageAugmentationOptions.CropAndFlip(size / 8, CropPadding.Reflect);
    augmentation.ErasingProbability = recipe.Erasing;
    var preprocessing = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
        .Append(ml.Transforms.ResizeImages("Image", size, size))
        .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
        .Append(ml.Transforms.AugmentImages(augmentation))
        .Fit(train);
    var options = new CnnTrainerOptions
    {
        Architecture = CnnArchitecture.ResNet(2, 2, 2, 3),
        InitialWeights = weights, // its mean-image preprocessing is applied inside the model
        FreezeBackboneEpochs = freezeEpochs,
        BackboneLearningRateFactor = recipe.BackboneFactor,
        FrozenBackboneFraction = recipe.FrozenFraction,
        Epochs = epochs,
        BatchSize = batchSize,
        Optimizer = CnnOptimizer.AdamW,
        WeightDecay = recipe.WeightDecay,
        LearningRate = recipe.LearningRate,
        LearningRateSchedule = LearningRateSchedule.CosineWithWarmup(warmupEpochs: 0),
        LabelSmoothing = recipe.LabelSmoothing,
        Mixing = recipe.Mixing,
        Lookahead = recipe.Lookahead ? new LookaheadOptions() : null,
        TestTimeAugmentation = TestTimeAugmentation.HorizontalFlip,
        Seed = recipe.Seed,
        Precision = recipe.Precision,
    };
    Console.WriteLine($"Fine-tuning ML.NET's ResNet-18 ({options.Architecture.Name}) at {size}×{size}: {epochs} " +
                      $"epochs ({freezeEpochs} with the backbone frozen), " +
                      $"batch {batchSize}, AdamW peak {recipe.LearningRate} (backbone " +
                      $"×{recipe.BackboneFactor}{(recipe.FrozenFraction > 0 ? $", its first {recipe.FrozenFraction:P0} of layers frozen" : "")}), " +
                      $"weight decay {recipe.WeightDecay}, cosine, " +
                      $"label smoothing {recipe.LabelSmoothing}{(recipe.Lookahead ? ", Lookahead" : "")}, " +
                      $"crop+flip{(recipe.Erasing > 0 ? $"+erasing {recipe.Erasing}" : "")}{(recipe.Mixing is { } mixing ? $", {mixing}" : "")}, " +
                      $"flip at test time, seed {recipe.Seed}{PrecisionOption.Describe(recipe.Precision)}");
    using var cnn = TrainingConsole.Run("fine-tuning", progress =>
    {
        options.Progress = progress;
        return new CnnTrainer(ml, options).Fit(preprocessing.Transform(train));
    });
    var model = preprocessing.Append(cnn)
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")
            .Fit(cnn.Transform(preprocessing.Transform(test))));
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"Fine-tuned: micro accuracy {metrics.MicroAccuracy:F4} in {seconds:F0} s (decoding, {epochs} epochs and the test pass)");
    ModelReport.EvaluateAndSave(ml, model, train.Schema, test, output);
    cnn.SaveWeights(Path.Combine(output, "fine-tuned.safetensors"));
    return ($"fine-tuned ML.NET ResNet-18 at {size}px, {epochs} epochs", metrics.MicroAccuracy, seconds);
}

// ML.NET's own path: frozen ResNet-18 features at 224×224 (DnnFeaturizeImage), then LbfgsMaximumEntropy.
static (string, double, double) MlNetFeaturizer(MLContext ml, IDataView train, IDataView test)
{
    Console.WriteLine();
    Console.WriteLine("ML.NET: DnnFeaturizeImage (ResNet-18, 224×224) + LbfgsMaximumEntropy...");
    var clock = Stopwatch.StartNew();
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
        .Append(ml.Transforms.ResizeImages("Image", 224, 224))
        .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
        .Append(ml.Transforms.DnnFeaturizeImage("ImageFeatures", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
        .Append(ml.Transforms.CopyColumns("Features", "ImageFeatures"))
        .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy());
    var model = pipeline.Fit(train);
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"ML.NET featurizer: micro accuracy {metrics.MicroAccuracy:F4} in {seconds:F0} s (featurizing train and test, training)");
    return ("ML.NET DnnFeaturizeImage(ResNet-18) + LbfgsMaximumEntropy", metrics.MicroAccuracy, seconds);
}

// The library's best network from scratch on the same images: ResNet-9 (width 32) at 32×32, 15 epochs (Cifar10FromFolders' recipe).
static (string, double, double) FromScratch(MLContext ml, IDataView train, IDataView test)
{
    Console.WriteLine();
    Console.WriteLine("From scratch: ResNet9(32) at 32×32, 15 epochs...");
    var clock = Stopwatch.StartNew();
    var preprocessing = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
        .Append(ml.Transforms.ResizeImages("Image", 32, 32))
        .Append(ml.Transforms.ExtractPixels("Pixels", "Image", scaleImage: 1f / 255))
        .Append(ml.Transforms.NormalizeImages("Features", "Pixels"))
        .Append(ml.Transforms.AugmentImages(StandardCifarRecipe.Augmentation))
        .Fit(train);
    var options = StandardCifarRecipe.Options(CnnArchitecture.ResNet9(32), epochs: 15, batchSize: 256, StandardCifarRecipe.ResNet9LearningRate);
    options.StandardizeInputs = false; // NormalizeImages already did
    options.TestTimeAugmentation = TestTimeAugmentation.HorizontalFlip;
    options.Seed = 1;
    using var cnn = TrainingConsole.Run("from scratch", progress =>
    {
        options.Progress = progress;
        return new CnnTrainer(ml, options).Fit(preprocessing.Transform(train));
    });
    var metrics = ml.MulticlassClassification.Evaluate(cnn.Transform(preprocessing.Transform(test)));
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"From scratch: micro accuracy {metrics.MicroAccuracy:F4} in {seconds:F0} s");
    return ("ResNet9(32) from scratch at 32px, 15 epochs", metrics.MicroAccuracy, seconds);
}

/// <summary>The fine-tuning's optimizer and regularization settings from the command line.</summary>
internal sealed record FineTuning(double LearningRate, double BackboneFactor, double FrozenFraction, double WeightDecay, double Erasing,
    double MixupAlpha, double CutMixAlpha, double MixProbability, double LabelSmoothing, bool Lookahead, int Seed, TrainingPrecision Precision)
{
    public MixingOptions? Mixing => MixupAlpha > 0 || CutMixAlpha > 0
        ? new MixingOptions { MixupAlpha = MixupAlpha, CutMixAlpha = CutMixAlpha, Probability = MixProbability }
        : null;
}
