using Microsoft.ML;
using MlNetCnn.Persistence;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Beyond one machine on PyTorch's engine: the library's weights go to tools/ddp/train_ddp.py, which trains them with
/// DistributedDataParallel (here 2 CPU processes, gloo) and writes .safetensors; the library imports the result and
/// scores in ML.NET as PyTorch does.
/// </summary>
public sealed class DistributedTrainingTests
{
    private static string Script => Path.Combine(AppContext.BaseDirectory, "ddp", "train_ddp.py");

    [PyTorchFact]
    public void DdpTrainedWeightsScoreInMlNetAsInPyTorch()
    {
        using var temp = new TempFolder();
        var ml = new MLContext(seed: 1);
        var rows = WeightImportTests.Rows(32, seed: 3);
        var data = WeightImportTests.Keyed(ml, rows);
        // The library trains torchvision's ResNet-18 layout and exports its weights.
        using (var trained = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.ResNet18, Epochs = 1, BatchSize = 16,
                StandardizeInputs = false }).Fit(Resized(ml, data)))
            trained.SaveWeights(temp.Combine("start.safetensors"));
        var (images, labels) = Tensors(ml, Resized(ml, data));
        SafeTensorsFile.Write(temp.Combine("data.safetensors"), [("images", images), ("labels", labels)]);
        SafeTensorsFile.Write(temp.Combine("eval.safetensors"), [("images", images)]);

        var (code, output) = PyTorchAvailability.Run(TimeSpan.FromMinutes(5), Script, "--processes", "2", "--arch", "resnet18", "--classes", "4",
            "--weights", temp.Combine("start.safetensors"), "--data", temp.Combine("data.safetensors"), "--out", temp.Combine("trained.safetensors"),
            "--epochs", "2", "--batch", "8", "--lr", "0.05", "--eval", temp.Combine("eval.safetensors"), "--eval-out",
            temp.Combine("probabilities.safetensors"));
        Assert.True(code == 0, $"train_ddp.py failed ({code}):\n{output}");
        Assert.Contains("on 2 processes", output);

        using var weights = PretrainedWeights.FromFile(temp.Combine("trained.safetensors"));
        using var imported = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.ResNet18, Epochs = 0, InitialWeights = weights,
                StandardizeInputs = false }).Fit(Resized(ml, data));
        var (scores, predicted) = OnnxRuntimeScorer.LibraryScores(imported.Transform(Resized(ml, data)));
        using var fromPyTorch = SafeTensorsFile.Read(temp.Combine("probabilities.safetensors"))["probabilities"];
        float[] expected = fromPyTorch.data<float>().ToArray();

        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(expected, scores) <= 1e-4f);
        Assert.Equal(Enumerable.Range(0, rows.Length).Select(r => (uint)ArgMax(expected.AsSpan(r * 4, 4)) + 1), predicted);
        // Training changed the weights: PyTorch's result is not the library's starting point.
        using var start = PretrainedWeights.FromFile(temp.Combine("start.safetensors"));
        using var initial = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.ResNet18, Epochs = 0, InitialWeights = start,
                StandardizeInputs = false }).Fit(Resized(ml, data));
        Assert.True(
            OnnxRuntimeScorer.MaxAbsoluteDifference(
                OnnxRuntimeScorer.LibraryScores(initial.Transform(Resized(ml, data))).Scores, scores) > 1e-3f);
    }

    // ResNet-18 (ImageNet stem) needs 32×32: the 16×16 test images upsampled by pixel repetition, 3×32×32 planar.
    private static IDataView Resized(MLContext ml, IDataView data)
        => ml.Transforms.CustomMapping<SmallImage, LargeImage>((input, output) =>
        {
            output.Features = new float[3 * 32 * 32];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        output.Features[(c * 32 + y) * 32 + x] =
                            input.Features[(c * WeightImportTests.Size + y / 2) * WeightImportTests.Size + x / 2];
        }, contractName: null).Fit(data).Transform(data);

    private static (Tensor Images, Tensor Labels) Tensors(MLContext ml, IDataView data)
    {
        var rows = ml.Data.CreateEnumerable<LabeledLarge>(data, reuseRowObject: false).ToArray();
        return (tensor(rows.SelectMany(r => r.Features).ToArray()).reshape(rows.Length, 3, 32, 32),
            tensor(rows.Select(r => (long)r.Label - 1).ToArray()));
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    public sealed class SmallImage
    {
        [Microsoft.ML.Data.VectorType(3, WeightImportTests.Size, WeightImportTests.Size)]
        public float[] Features { get; set; } = [];
    }

    public sealed class LargeImage
    {
        [Microsoft.ML.Data.VectorType(3, 32, 32)]
        public float[] Features { get; set; } = [];
    }

    private sealed class LabeledLarge
    {
        public float[] Features { get; set; } = [];

        public uint Label { get; set; }
    }
}
