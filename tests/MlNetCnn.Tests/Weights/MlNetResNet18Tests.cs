using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>ML.NET's pretrained ResNet-18 (the ONNX in Microsoft.ML.DnnImageFeaturizer.ResNet18) imported onto
/// ResNet(2, 2, 2, 3), checked against ONNX Runtime.</summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class MlNetResNet18Tests
{
    private static string Models => Path.Combine(AppContext.BaseDirectory, "DnnImageModels");

    [Fact]
    public void FeaturesMatchOnnxRuntimeOnTheSameImages()
    {
        using var weights = PretrainedWeights.MlNetResNet18();
        // 512 "classes" with an identity head: the logits are the pooled features ONNX Runtime outputs.
        using var module = CnnArchitecture.ResNet(2, 2, 2, 3).CreateModule(3, 224, 224, 512);
        var report = weights.LoadInto(module, strict: true);
        Assert.Equal("fc", report.ReplacedHead);
        Assert.Empty(report.Missing);
        Assert.Equal(22 * 5, report.Loaded.Count); // 22 convolutions, each with a batch norm's 4 tensors
        using (no_grad())
        {
            module.state_dict()["fc.weight"].copy_(eye(512));
            module.state_dict()["fc.bias"].zero_();
        }
        module.eval();

        var random = new Random(5);
        var rgb = new float[2 * 3 * 224 * 224];
        for (int i = 0; i < rgb.Length; i++)
            rgb[i] = (float)Math.Round(random.NextDouble() * 255); // photographs' 0–255 RGB pixels
        float[] ours;
        using (var standardization = weights.InputNormalization!.Create(new ImageShape(3, 224, 224), 255f))
        using (NewDisposeScope())
        using (no_grad())
            ours = module.call(standardization.Apply(tensor(rgb).reshape(2, 3, 224, 224))).data<float>().ToArray();

        using var preprocess = new InferenceSession(Path.Combine(Models, "ResNetPrepOnnx", "ResNetPreprocess.onnx"));
        using var resnet = new InferenceSession(Path.Combine(Models, "ResNet18Onnx", "ResNet18.onnx"));
        for (int image = 0; image < 2; image++)
        {
            var input = new DenseTensor<float>(rgb.AsMemory(image * 3 * 224 * 224, 3 * 224 * 224), [1, 3, 224, 224]);
            using var prepared = preprocess.Run([NamedOnnxValue.CreateFromTensor(preprocess.InputMetadata.Keys.Single(), input)]);
            var bgr = prepared.Single().AsTensor<float>().ToDenseTensor();
            using var features = resnet.Run([NamedOnnxValue.CreateFromTensor(resnet.InputMetadata.Keys.Single(), bgr)]);
            float[] expected = features.Single().AsEnumerable<float>().ToArray();
            Assert.Equal(512, expected.Length);
            double worst = expected.Select((v, i) => Math.Abs(v - ours[image * 512 + i])).Max();
            Assert.True(worst <= 1e-4, $"image {image}: largest feature difference {worst:G3} (features up to {expected.Max():G3})");
        }
    }

    [Fact]
    public void AGraphOfAnotherArchitectureIsRejectedWithTheReason()
    {
        using var weights = PretrainedWeights.FromFile(Path.Combine(Models, "ResNet18Onnx", "ResNet18.onnx"));
        using var torchvisionLayout = CnnArchitecture.ResNet18.CreateModule(3, 224, 224, 10); // [2, 2, 2, 2]: one block short
        var error = Assert.Throws<ArgumentException>(() => weights.LoadInto(torchvisionLayout));
        Assert.Contains("no counterpart", error.Message);
        Assert.Contains("ResNet(2, 2, 2, 3)", error.Message);

        using var preprocessing = PretrainedWeights.FromFile(Path.Combine(Models, "ResNetPrepOnnx", "ResNetPreprocess.onnx"));
        var unsupported = Assert.Throws<ArgumentException>(() => preprocessing.LoadInto(torchvisionLayout));
        Assert.Contains("operator Sub", unsupported.Message);
    }

    [Fact]
    public void DamagedOnnxFilesAreRejectedNamingTheFile()
    {
        using var temp = new TempFolder();
        byte[] model = File.ReadAllBytes(Path.Combine(Models, "ResNetPrepOnnx", "ResNetPreprocess.onnx"));
        string truncated = temp.Combine("truncated.onnx");
        File.WriteAllBytes(truncated, model[..(model.Length / 2)]);
        string random = temp.Combine("random.onnx");
        File.WriteAllBytes(random, Enumerable.Range(0, 1000).Select(i => (byte)(i * 37 + 11)).ToArray());
        foreach (string path in new[] { truncated, random })
        {
            var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path));
            Assert.Contains(Path.GetFileName(path), error.Message);
        }
    }

    [Fact]
    public void AMissingModelNamesThePackageToAdd()
    {
        using var temp = new TempFolder();
        var error = Assert.Throws<FileNotFoundException>(() => PretrainedWeights.MlNetResNet18(temp.Path));
        Assert.Contains("Microsoft.ML.DnnImageFeaturizer.ResNet18", error.Message);
    }
}
