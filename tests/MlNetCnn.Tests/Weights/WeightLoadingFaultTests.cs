using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Weights that parse but cannot be right (issue 28): non-finite tensors in any format and in ML.NET's mean image,
/// a wrong-shape layer under <c>strict: false</c>, and non-finite or non-positive input normalization.
/// </summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class WeightLoadingFaultTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Save(string name, nn.Module module, Action<Dictionary<string, Tensor>>? edit = null)
    {
        var tensors = module.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        edit?.Invoke(tensors);
        string path = _temp.Combine(name);
        if (name.EndsWith(".pt", StringComparison.Ordinal))
            PyTorchStateDictFile.Write(path, [.. tensors.Select(p => (p.Key, p.Value))]);
        else
            SafeTensorsFile.Write(path, tensors.Select(p => (p.Key, p.Value)));
        foreach (var tensor in tensors.Values)
            tensor.Dispose();
        return path;
    }

    [Theory]
    [InlineData("nan.safetensors", "bn.running_var", float.NaN)]
    [InlineData("inf.safetensors", "conv.weight", float.PositiveInfinity)]
    [InlineData("nan.pt", "fc.weight", float.NaN)]
    [InlineData("inf.pt", "bn.bias", float.NegativeInfinity)]
    public void NonFiniteWeightsAreRefusedAtLoadNamingTheFileAndTensor(string file, string tensor, float value)
    {
        using var network = OnnxWeightFiles.Network();
        string path = Save(file, network, tensors =>
        {
            using (no_grad())
                tensors[tensor].view(-1)[1] = torch.tensor(value);
        });

        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path));

        Assert.Contains(file, error.Message);
        Assert.Contains($"'{tensor}'", error.Message);
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void ANaNInMlNetsMeanImageIsRefusedNamingThePreprocessingFile()
    {
        string models = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
        string original = Path.Combine(models, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
        byte[] bytes = File.ReadAllBytes(original);
        var image = OnnxModel.Read(original).Initializers.Values.Single(i => i.Shape is [1, 3, > 0, > 0]);
        // The mean image's first values, as they lie in the file (raw or packed little-endian floats).
        byte[] first = new byte[16];
        Buffer.BlockCopy(image.Values, 0, first, 0, 16);
        int at = bytes.AsSpan().IndexOf(first);
        Assert.True(at > 0);
        BitConverter.TryWriteBytes(bytes.AsSpan(at + 4), float.NaN);

        string folder = _temp.Combine("DnnImageModels");
        Directory.CreateDirectory(Path.Combine(folder, "ResNetPrepOnnx"));
        Directory.CreateDirectory(Path.Combine(folder, "ResNet18Onnx"));
        File.WriteAllBytes(Path.Combine(folder, "ResNetPrepOnnx", "ResNetPreprocess.onnx"), bytes);
        File.CreateSymbolicLink(Path.Combine(folder, "ResNet18Onnx", "ResNet18.onnx"), Path.Combine(models, "ResNet18Onnx", "ResNet18.onnx"));

        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.MlNetResNet18(folder));
        Assert.Contains("ResNetPreprocess.onnx", error.Message);
        Assert.Contains($"'{image.Name}'", error.Message);
        Assert.Contains("NaN", error.Message);
    }

    [Fact]
    public void AWrongShapeLayerThrowsEvenWhenNotStrict()
    {
        using var gray = OnnxWeightFiles.Network();
        string path = Save("gray.safetensors", gray);
        using var weights = PretrainedWeights.FromFile(path);
        using var color = nn.Sequential(("conv", nn.Conv2d(3, 4, 3)), ("bn", nn.BatchNorm2d(4)), ("fc", nn.Linear(4, 3)));
        var before = color.state_dict()["bn.weight"].clone();

        var error = Assert.Throws<ArgumentException>(() => weights.LoadInto(color, strict: false));

        Assert.Contains("gray.safetensors", error.Message);
        Assert.Contains("conv.weight: the file's [4, 1, 3, 3], the network's [4, 3, 3, 3]", error.Message);
        Assert.Equal(before.data<float>().ToArray(), color.state_dict()["bn.weight"].data<float>().ToArray()); // nothing copied
    }

    [Fact]
    public void NotStrictStillAllowsMissingAndExtraKeysAndReplacesTheHead()
    {
        using var source = OnnxWeightFiles.Network(classes: 3);
        string path = Save("partial.safetensors", source, tensors =>
        {
            tensors.Remove("bn.running_var", out var removed);
            removed!.Dispose();
            tensors["extra.weight"] = ones(2);
        });
        using var weights = PretrainedWeights.FromFile(path);
        using var fiveClasses = OnnxWeightFiles.Network(classes: 5);

        var report = weights.LoadInto(fiveClasses, strict: false);

        Assert.Equal(["bn.running_var"], report.Missing);
        Assert.Equal("the network has no such weight", report.Skipped["extra.weight"]);
        Assert.Equal("fc", report.ReplacedHead);
        Assert.StartsWith("classifier head replaced", report.Skipped["fc.weight"]);
        Assert.Contains("conv.weight", report.Loaded);
    }

    public static TheoryData<float[], float[], string> BadNormalizations() => new()
    {
        { [0.5f, float.NaN, 0.5f], [0.2f, 0.2f, 0.2f], "mean" },
        { [0.5f, 0.5f, float.PositiveInfinity], [0.2f, 0.2f, 0.2f], "mean" },
        { [0.5f, 0.5f, 0.5f], [0.2f, float.PositiveInfinity, 0.2f], "standard deviation" },
        { [0.5f, 0.5f, 0.5f], [0.2f, float.NaN, 0.2f], "standard deviation" },
        { [0.5f, 0.5f, 0.5f], [0.2f, 0f, 0.2f], "standard deviation" },
        { [0.5f, 0.5f, 0.5f], [-0.2f, 0.2f, 0.2f], "standard deviation" },
        { [0.5f, 0.5f, 0.5f], [1e-45f, 0.2f, 0.2f], "standard deviation" },
    };

    [Theory]
    [MemberData(nameof(BadNormalizations))]
    public void NonFiniteOrNonPositiveNormalizationIsRefused(float[] mean, float[] std, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => PretrainedInputNormalization.PerChannel(mean, std));
        Assert.Contains(named, error.Message);
    }
}
