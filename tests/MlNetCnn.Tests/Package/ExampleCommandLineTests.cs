using System.Diagnostics;

namespace MlNetCnn.Tests;

/// <summary>The command-line programs' help, name lookup and recipes, run as their own processes (built with the tests).</summary>
public sealed class ExampleCommandLineTests
{
    // tests/MlNetCnn.Tests/bin/<configuration>/<tfm>/ -> <folder>/<project>/bin/<configuration>/<tfm>/<project>.dll
    private static (int ExitCode, string Output, string Error) Run(string folder, string project, params string[] arguments)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string repository = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        string program = Path.Combine(repository, folder, project, "bin", testBin.Parent.Name, testBin.Name, project + ".dll");
        Assert.True(File.Exists(program), $"{project} was not built at {program}");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(program);
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("--size")] // a help request wins over an incomplete command line
    public void ArchitectureZooHelpExitsZeroWithTheUsage(string argument)
    {
        var (exitCode, output, _) = Run("examples", "ArchitectureZoo", argument == "--size" ? ["--size", "--help"] : [argument]);
        Assert.Equal(0, exitCode);
        Assert.StartsWith("usage: ArchitectureZoo", output);
    }

    [Fact]
    public void ArchitectureZooSummaryFindsANameInAnyCase()
    {
        var (exitCode, output, error) = Run("examples", "ArchitectureZoo", "--summary", "resnet9-32", "--classes", "10");
        Assert.True(exitCode == 0, error);
        Assert.Contains("ResNet9-32", output);
        Assert.Contains("1,646,112", output);
    }

    [Fact]
    public void BenchmarksHelpExitsZeroWithTheUsage()
    {
        var (exitCode, output, _) = Run("benchmarks", "MlNetCnn.Benchmarks", "--help");
        Assert.Equal(0, exitCode);
        Assert.StartsWith("usage: MlNetCnn.Benchmarks", output);
        Assert.Contains("--only", output);
    }

    [Fact]
    public void TheFastCifarRecipeTrainsEvaluatesAndSavesOnSmallFolders()
    {
        using var temp = new TempFolder();
        string data = SyntheticImages.CreateFolder(temp.Combine("images"), perClass: 20, size: 32, classes: 4, color: true);
        string output = TrainCifar(temp, "--data", data, "--recipe", "fast", "--without", "lookahead",
            "--epochs", "2", "--batch-size", "16", "--erasing", "0.5", "--precision", "bfloat16");
        Assert.Contains("AirbenchNet-64", output);
        Assert.Contains("random erasing 0.5", output);
        bool native = MlNetCnn.Platform.TorchRuntime.HasNativeBFloat16 && MlNetCnn.Platform.TorchRuntime.UseOneDnn;
        Assert.Contains(native ? ", bfloat16 mixed precision" : ", float32 (bfloat16 asked for", output);
        Assert.Contains("without lookahead", output);
        Assert.Contains("test-time HorizontalFlipAndTranslation", output);
        Assert.Contains("Held-out micro accuracy", output);
    }

    [Fact]
    public void TheFastCifarRecipeTrainsOnTheOfficialBinaryBatchesAndEvaluatesOnTheirTestBatch()
    {
        // The official-data run (--download) finds the extracted batches already there and fetches nothing.
        using var temp = new TempFolder();
        string batches = Directory.CreateDirectory(temp.Combine("cifar10", "cifar-10-batches-bin")).FullName;
        byte[] Labels(int count, int offset) => [.. Enumerable.Range(offset, count).Select(i => (byte)(i % 10))];
        for (int batch = 1; batch <= 5; batch++)
            DatasetFiles.WriteCifarBatch(Path.Combine(batches, $"data_batch_{batch}.bin"), Labels(8, batch), firstRecord: 8 * batch);
        DatasetFiles.WriteCifarBatch(Path.Combine(batches, "test_batch.bin"), Labels(10, 0));

        string output = TrainCifar(temp, "--download", "--data", temp.Combine("cifar10"), "--recipe", "fast",
            "--width", "8", "--minutes", "0.05", "--epochs", "2", "--batch-size", "16", "--precision", "float32");
        Assert.Contains("Training images: 40, test images: 10", output);
        Assert.Contains("Training AirbenchNet-8 (", output);
        // The README's official-data commands set the time budget, not the epochs.
        Assert.Contains("as many epochs as fit in 0.05 minutes (at most 2)", output);
        Assert.Matches(@"Fit: \d+ s in all \(image decoding included\); [12] epochs", output);
        Assert.Contains("Test micro accuracy", output);
    }

    // Runs Cifar10FromFolders into temp/output, which must succeed and save the model; returns what it printed.
    private static string TrainCifar(TempFolder temp, params string[] arguments)
    {
        var (exitCode, output, error) = Run("examples", "Cifar10FromFolders", [.. arguments, "--output", temp.Combine("output")]);
        Assert.True(exitCode == 0, error + output);
        Assert.True(File.Exists(temp.Combine("output", "model.zip")));
        return output;
    }

    [Fact]
    public void TheNetworksWidthBelongsToTheFastRecipe()
    {
        var (exitCode, _, error) = Run("examples", "Cifar10FromFolders", "--data", ".", "--width", "96");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--width sets the fast recipe's network; add --recipe fast", error);

        (exitCode, _, error) = Run("examples", "Cifar10FromFolders", "--data", ".", "--recipe", "fast", "--width", "1000000");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--width needs a whole number from 1 to 512, not 1000000", error);
    }

    [Fact]
    public void LeavingATechniqueOutNeedsTheFastRecipe()
    {
        var (exitCode, _, error) = Run("examples", "Cifar10FromFolders", "--data", ".", "--without", "lookahead");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--without leaves a technique out of --recipe fast", error);
    }

    [Fact]
    public void AnUnknownTechniqueNamesTheOnesTheAblationCanLeaveOut()
    {
        var (exitCode, _, error) = Run("examples", "Cifar10FromFolders", "--data", ".", "--recipe", "fast", "--without", "dropout");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--without must be one of whitening, identity, norm-rate, lookahead, alternating-flip, "
            + "label-smoothing, not 'dropout'", error);
    }

    [Fact]
    public void TransferLearningsValidationSplitNeverTouchesTheTestFiles()
    {
        using var temp = new TempFolder();
        string data = SyntheticImages.CreateFolder(temp.Combine("images"), perClass: 8, size: 32, classes: 2, color: true);
        string[] Files(string split, string part) =>
            Directory.GetFiles(temp.Combine("output", split, part, "horizontal")).Select(Path.GetFileName).Order()
            .ToArray()!;

        // 0 and 1 are meaningful values (off, all) and must be accepted, as the README's commands give them.
        var (exitCode, output, error) = Run("examples", "TransferLearning", "--data", data, "--train-per-class", "3", "--test-per-class", "2",
            "--frozen-fraction", "0", "--backbone-factor", "1", "--freeze-epochs", "0", "--mixup", "0", "--erasing", "0", "--mix-probability", "1",
            "--fine-tune", "off", "--baselines", "none", "--output", temp.Combine("output"));
        Assert.True(exitCode == 0, error + output);
        Assert.Equal(["0000.png", "0001.png", "0002.png"], Files("split-3-2", "train"));
        Assert.Equal(["0003.png", "0004.png"], Files("split-3-2", "test"));

        (exitCode, output, error) = Run("examples", "TransferLearning", "--data", data, "--train-per-class", "3", "--test-per-class", "2",
            "--evaluate-on", "validation", "--size", "32", "--epochs", "2", "--batch-size", "4", "--mixup", "0.2", "--cutmix", "1",
            "--baselines", "none", "--output", temp.Combine("output"));
        Assert.True(exitCode == 0, error + output);
        Assert.Equal(["0000.png", "0001.png", "0002.png"], Files("split-3-skip2-2", "train"));
        Assert.Equal(["0005.png", "0006.png"], Files("split-3-skip2-2", "test"));
        Assert.Contains("2 validation images per class", output);
        Assert.Contains("mixing (mixup α 0.2, cutmix α 1, probability 1)", output);
        Assert.Contains("Fine-tuned: micro accuracy", output);
    }
}
