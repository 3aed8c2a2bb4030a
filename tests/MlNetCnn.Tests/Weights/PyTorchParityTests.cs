using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>torchvision's state_dicts written by PyTorch, made once for the parity tests.</summary>
public sealed class TorchvisionExports : IDisposable
{
    public static readonly string[] Models = ["resnet18", "vgg11_bn", "densenet121", "googlenet"];

    private readonly TempFolder _temp = new();

    public TorchvisionExports()
    {
        if (PyTorchAvailability.MissingReason != null)
            return;
        var (code, output) = PyTorchAvailability.Run(TimeSpan.FromMinutes(5), [Script, "export", Folder, .. Models]);
        if (code != 0)
            throw new InvalidOperationException($"torchvision_parity.py export failed ({code}): {output}");
    }

    public static string Script => Path.Combine(AppContext.BaseDirectory, "PyTorch", "torchvision_parity.py");

    public string Folder => _temp.Path;

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// The architectures against real PyTorch: torchvision's resnet18, vgg11_bn, densenet121 and googlenet with seeded
/// random weights (batch-norm statistics included) give the same logits here, and weights written here give the same
/// logits in torchvision (both .pt and .safetensors). 3×64×64 inputs, 10 classes.
/// </summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class PyTorchParityTests(TorchvisionExports exports) : IClassFixture<TorchvisionExports>
{
    private const double Tolerance = 1e-4;

    private static CnnArchitecture Architecture(string name) => name switch
    {
        "resnet18" => CnnArchitecture.ResNet18,
        "vgg11_bn" => CnnArchitecture.Vgg11,
        "densenet121" => CnnArchitecture.DenseNet121,
        "googlenet" => CnnArchitecture.GoogLeNet,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private float[] Logits(nn.Module<Tensor, Tensor> module)
    {
        module.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var pixels = ReadFloats(Path.Combine(exports.Folder, "input.bin"));
        return module.call(tensor(pixels).reshape(2, 3, 64, 64)).data<float>().ToArray();
    }

    private static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= Tolerance,
            $"{what}: largest logit difference {worst:G3} exceeds {Tolerance} (logits up to "
            + $"{expected.Max(Math.Abs):G3})");
    }

    [PyTorchTheory]
    [InlineData("resnet18")]
    [InlineData("vgg11_bn")]
    [InlineData("densenet121")]
    [InlineData("googlenet")]
    public void TorchvisionWeightsGiveTorchvisionLogits(string model)
    {
        using var weights = PretrainedWeights.FromFile(Path.Combine(exports.Folder, model + ".pt"));
        using var module = Architecture(model).CreateModule(3, 64, 64, 10);
        var report = weights.LoadInto(module, strict: true);
        Assert.Empty(report.Missing);
        Assert.Null(report.ReplacedHead);
        AssertClose(ReadFloats(Path.Combine(exports.Folder, model + ".logits.bin")), Logits(module), $"{model} loaded from PyTorch");
    }

    [PyTorchTheory]
    [InlineData("resnet18")]
    [InlineData("googlenet")]
    public void TorchOnnxExportsGiveTorchvisionLogits(string model)
    {
        // torch.onnx folds every batch norm into its convolution: the import turns each bias back into a batch norm.
        using var weights = PretrainedWeights.FromFile(Path.Combine(exports.Folder, model + ".onnx"));
        using var module = Architecture(model).CreateModule(3, 64, 64, 10);
        var report = weights.LoadInto(module, strict: true);
        Assert.Empty(report.Missing);
        AssertClose(ReadFloats(Path.Combine(exports.Folder, model + ".logits.bin")), Logits(module), $"{model} loaded from ONNX");
    }

    [PyTorchTheory]
    [InlineData("resnet18")]
    [InlineData("vgg11_bn")]
    [InlineData("densenet121")]
    [InlineData("googlenet")]
    public void OurWeightsGiveOurLogitsInTorchvision(string model)
    {
        torch.manual_seed(7);
        var module = Architecture(model).CreateModule(3, 64, 64, 10);
        RandomizeBatchNorms(module);
        using var cnn = new CnnTransformer(Architecture(model),
            new ScoringNetwork(Architecture(model), module, InputStandardization.Identity(3), new ImageShape(3, 64, 64),
                10),
            "Features", null, [], 16);
        var ours = Logits(module);
        foreach (string extension in new[] { ".pt", ".safetensors" })
        {
            string path = Path.Combine(exports.Folder, "ours-" + model + extension);
            cnn.SaveWeights(path);
            var (code, output) = PyTorchAvailability.Run(TimeSpan.FromMinutes(3), TorchvisionExports.Script, "check", exports.Folder, model, path);
            Assert.True(code == 0, $"torchvision could not load {Path.GetFileName(path)}: {output}");
            AssertClose(ours, ReadFloats(path + ".logits.bin"), $"{model} exported as {extension}");
            File.Delete(path);
        }
    }

    private static void RandomizeBatchNorms(nn.Module module)
    {
        using var noGrad = no_grad();
        foreach (var (name, tensor) in module.state_dict())
        {
            if (name.EndsWith("running_mean", StringComparison.Ordinal))
                tensor.copy_(randn(tensor.shape) * 0.1);
            else if (name.EndsWith("running_var", StringComparison.Ordinal))
                tensor.copy_(rand(tensor.shape) + 0.5);
        }
    }
}
