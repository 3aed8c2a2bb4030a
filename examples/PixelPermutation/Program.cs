// The pixel-permutation experiment of the teaching material: CNN(n_feature = 6) (6,422 parameters) against the fully
// connected FC2Layer(784, 8, 10) (6,442 parameters) on MNIST-style digits, each trained on the original images and on
// images whose pixels are shuffled by one fixed permutation. The CNN wins on the images it can see as images; under
// the permutation its advantage vanishes, while the fully connected network does not care.
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn;
using MlNetCnn.Examples;
using MlNetCnn.Platform;
using PixelPermutation;

const string Usage = """
    usage: PixelPermutation [--data <root>] [--epochs N] [--seed N]
      --data <root>   digits laid out train|test/<label>/<image> (default: the MNIST sample in examples/MnistFromFolders/data)
      --epochs N      passes over the training images for each of the four networks (default 10)
      --seed N        seeds the permutation and the training (default 1)
    """;

return CommandLine.Run(args, Usage, ["--data", "--epochs", "--seed"], Run);

static int Run(CommandLine commandLine)
{
    string root = commandLine.Text("--data") ?? MnistSample.Locate();
    int epochs = commandLine.PositiveInt("--epochs", 10), seed = commandLine.PositiveInt("--seed", 1);
    // libtorch's oneDNN kernels turned CNN(6)'s loss NaN in 5 of 5 seeds on 8,000 digits, its own kernels in none
    // (README, Known issues); for these ~6k-parameter networks the slower kernels cost seconds.
    TorchRuntime.UseOneDnn = false;
    var ml = new MLContext(seed);
    var (trainFiles, testFiles) = ImageFolder.LoadTrainTest(ml, root);

    // Decode once into memory: four networks read the same images.
    var total = Stopwatch.StartNew();
    var preprocessing = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true))
        .Append(FixedPixelPermutation.Estimator(ml, seed))
        .Fit(trainFiles);
    string[] columns = ["Label", "Features", "PermutedFeatures"];
    var train = ml.Data.Cache(preprocessing.Transform(trainFiles), columns);
    var test = ml.Data.Cache(preprocessing.Transform(testFiles), columns);
    Console.WriteLine($"Data: {Path.GetFullPath(root)} ({train.GetColumn<uint>("Label").Count()} training, "
        + $"{test.GetColumn<uint>("Label").Count()} test images), {epochs} epochs each");
    Console.WriteLine();

    var results = new List<(string Network, long Parameters, double Original, double Permuted)>();
    foreach (var architecture in new[] { CnnArchitecture.CnnNFeature(6), CnnArchitecture.Mlp(8) })
    {
        double Accuracy(string featureColumn)
        {
            // One thread: these ~6k-parameter networks gain nothing from two.
            var options = new CnnTrainerOptions { Architecture = architecture, Epochs = epochs,
                FeatureColumnName = featureColumn, Seed = seed, NumberOfThreads = 1 };
            var clock = Stopwatch.StartNew();
            using var model = new CnnTrainer(ml, options).Fit(train);
            double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
            Console.WriteLine($"  {architecture.Name} on {featureColumn}: test accuracy {accuracy:F4} ({clock.Elapsed.TotalSeconds:F1} s)");
            return accuracy;
        }
        long parameters = architecture.Summarize(new ImageShape(1, 28, 28), 10).TotalParameters;
        results.Add((architecture.Name, parameters, Accuracy("Features"), Accuracy("PermutedFeatures")));
    }

    Console.WriteLine();
    Console.WriteLine($"{"network",-14} {"parameters",10} {"original",9} {"permuted",9}");
    foreach (var (network, parameters, original, permuted) in results)
        Console.WriteLine($"{network,-14} {parameters,10:N0} {original,9:F4} {permuted,9:F4}");
    var (cnn, fc) = (results[0], results[1]);
    Console.WriteLine();
    Console.WriteLine($"CNN advantage over the fully connected net: {cnn.Original - fc.Original:+0.0000;-0.0000} on the original images, " +
                      $"{cnn.Permuted - fc.Permuted:+0.0000;-0.0000} under the permutation.");
    Console.WriteLine($"Total time: {total.Elapsed.TotalSeconds:F1} s (decoding and four trainings)");
    return 0;
}
