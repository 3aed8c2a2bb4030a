using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>PretrainedWeights: reading and writing .safetensors and .pt, key matching, head replacement, strict mode, damaged files.</summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class PretrainedWeightsTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    private CnnTransformer Train(int classes = 3, int epochs = 1, CnnTrainerOptions? options = null)
    {
        var rows = SyntheticTensors.Rows(48, classes, seed: 4);
        options ??= new CnnTrainerOptions { Epochs = epochs, BatchSize = 16, Seed = 2 };
        return new CnnTrainer(_ml, options).Fit(SyntheticTensors.Keyed(_ml, rows));
    }

    private static float[] Logits(nn.Module<Tensor, Tensor> module, int channels = 1)
    {
        module.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = linspace(-1, 1, 2 * channels * 16 * 16).reshape(2, channels, 16, 16);
        return module.call(input).data<float>().ToArray();
    }

    [Theory]
    [InlineData("weights.safetensors")]
    [InlineData("weights.pt")]
    public void SavedWeightsLoadBackKeyForKey(string name)
    {
        using var model = Train();
        string path = _temp.Combine(name);
        model.SaveWeights(path);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp"));

        using var weights = PretrainedWeights.FromFile(path);
        using var fresh = CnnArchitecture.LeNet5.CreateModule(1, 16, 16, 3);
        var report = weights.LoadInto(fresh, strict: true);

        Assert.Equal(model.Network.Module.state_dict().Keys.Order(), report.Loaded.Order());
        Assert.Empty(report.Skipped);
        Assert.Empty(report.Missing);
        Assert.Null(report.ReplacedHead);
        Assert.Equal(Logits(model.Network.Module), Logits(fresh));
    }

    [Fact]
    public void AHeadOfAnotherClassCountStartsFresh()
    {
        using var model = Train(classes: 3);
        string path = _temp.Combine("three.safetensors");
        model.SaveWeights(path);
        using var weights = PretrainedWeights.FromFile(path);
        using var fiveClasses = CnnArchitecture.LeNet5.CreateModule(1, 16, 16, 5);
        var headBefore = fiveClasses.state_dict()["classifier.4.weight"].clone();

        var report = weights.LoadInto(fiveClasses, strict: true);

        Assert.Equal("classifier.4", report.ReplacedHead);
        Assert.Contains("classifier.4.weight", report.Skipped.Keys);
        Assert.Contains("[3, 84]", report.Skipped["classifier.4.weight"]);
        Assert.Contains("features.0.weight", report.Loaded);
        Assert.Equal(fiveClasses.state_dict()["classifier.4.weight"].data<float>().ToArray(), headBefore.data<float>().ToArray());
        Assert.Equal(fiveClasses.state_dict()["features.0.weight"].data<float>().ToArray(),
            model.Network.Module.state_dict()["features.0.weight"].data<float>().ToArray());
        Assert.Contains("classifier head 'classifier.4' starts fresh", report.ToString());
    }

    [Fact]
    public void AShapeMismatchNamesTheKeyAndBothShapes()
    {
        using var model = Train();
        string path = _temp.Combine("gray.pt");
        model.SaveWeights(path);
        using var weights = PretrainedWeights.FromFile(path);
        using var color = CnnArchitecture.LeNet5.CreateModule(3, 16, 16, 3);
        var before = color.state_dict()["features.3.weight"].clone();

        var error = Assert.Throws<ArgumentException>(() => weights.LoadInto(color, strict: true));
        Assert.Contains("features.0.weight: the file's [6, 1, 5, 5], the network's [6, 3, 5, 5]", error.Message);
        Assert.Contains("gray.pt", error.Message);
        // strict copies nothing on failure
        Assert.Equal(color.state_dict()["features.3.weight"].data<float>().ToArray(), before.data<float>().ToArray());

        // Not strict allows missing and extra keys, never a weight of another shape (issue 28).
        var loose = Assert.Throws<ArgumentException>(() => weights.LoadInto(color, strict: false));
        Assert.Contains("features.0.weight: the file's [6, 1, 5, 5], the network's [6, 3, 5, 5]", loose.Message);
    }

    [Fact]
    public void StrictLoadingRejectsKeysTheNetworkLacks()
    {
        using var model = Train();
        string path = _temp.Combine("lenet.safetensors");
        model.SaveWeights(path);
        using var weights = PretrainedWeights.FromFile(path);
        using var other = CnnArchitecture.ResNet18Cifar.CreateModule(1, 16, 16, 3);
        var error = Assert.Throws<ArgumentException>(() => weights.LoadInto(other, strict: true));
        Assert.Contains("not in the network: features.0.weight", error.Message);
        Assert.Contains("missing from the file: conv1.weight", error.Message);
        Assert.Throws<ArgumentException>(() => weights.LoadInto(other, strict: false)); // nothing at all fits
    }

    [Fact]
    public void TheTrainerStartsFromInitialWeights()
    {
        using var pretrained = Train(epochs: 3);
        string path = _temp.Combine("start.safetensors");
        pretrained.SaveWeights(path);
        using var weights = PretrainedWeights.FromFile(path);
        // A vanishing learning rate: the result is the initial weights, not a fresh network.
        using var tuned =
            Train(options: new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 9, LearningRate = 1e-12,
                InitialWeights = weights });
        var expected = Logits(pretrained.Network.Module);
        var actual = Logits(tuned.Network.Module);
        Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-4));

        Assert.Throws<ArgumentException>(() => new CnnTrainer(_ml, new CnnTrainerOptions { InitialWeights = weights, InitialModel = pretrained }));
    }

    [Fact]
    public void ForgedSafetensorsAreRejectedNamingTheFile()
    {
        string Write(string name, ulong? claimedHeaderLength, string header, int dataBytes)
        {
            ulong headerLength = claimedHeaderLength ?? (ulong)Encoding.UTF8.GetByteCount(header);
            string path = _temp.Combine(name);
            var bytes = new byte[8 + Encoding.UTF8.GetByteCount(header) + dataBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength);
            Encoding.UTF8.GetBytes(header, bytes.AsSpan(8));
            File.WriteAllBytes(path, bytes);
            return path;
        }
        string ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        var cases = new[]
        {
            (Write("huge-header.safetensors", 1UL << 60, ok, 16), "header claims"),
            (Write("past-end.safetensors", null, ok.Replace("16]", "1600]"), 16), "outside"),
            (Write("huge-shape.safetensors", null, ok.Replace("[2,2]", "[4000000000000,4000000000000]") , 16), "impossible shape"),
            (Write("wrong-size.safetensors", null, ok.Replace("[2,2]", "[3,2]"), 16), "needs 24 bytes"),
            (Write("not-json.safetensors", 5, "{{{{{", 0), "malformed"),
            (Write("empty-header.safetensors", 0, "", 0), "malformed"),
            (Write("dtype.safetensors", null, ok.Replace("F32", "F8_E4M3"), 16), "dtype"),
        };
        foreach (var (path, expected) in cases)
        {
            var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path));
            Assert.Contains(Path.GetFileName(path), error.Message);
            Assert.Contains(expected, error.Message);
        }
        File.WriteAllBytes(_temp.Combine("tiny.safetensors"), [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(_temp.Combine("tiny.safetensors")));
    }

    [Fact]
    public void DamagedPyTorchFilesAreRejectedNamingTheFile()
    {
        using var model = Train();
        string good = _temp.Combine("good.pt");
        model.SaveWeights(good);
        byte[] bytes = File.ReadAllBytes(good);

        string truncated = _temp.Combine("truncated.pt");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string random = _temp.Combine("random.pt");
        File.WriteAllBytes(random, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 >> 3)).ToArray());

        // The same archive with one storage cut short, and one with a pickle that calls os.system.
        string shortStorage = _temp.Combine("short-storage.pt");
        string evil = _temp.Combine("evil.pt");
        Rewrite(good, shortStorage, (name, data) => name.EndsWith("/data/0", StringComparison.Ordinal) ? data[..4] : data);
        Rewrite(good, evil, (name, data) => name.EndsWith("data.pkl", StringComparison.Ordinal)
            ? [0x80, 0x02, .. "cos\nsystem\n"u8, .. "X\u0002\u0000\u0000\u0000ls"u8, 0x85, (byte)'R', (byte)'.']
            : data);

        foreach (var (path, expected) in new[] { (truncated, "zip"), (random, "not a zip"), (shortStorage, "should hold"), (evil, "os.system") })
        {
            var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path));
            Assert.Contains(Path.GetFileName(path), error.Message);
            Assert.Contains(expected, error.Message);
        }
        Assert.Throws<FileNotFoundException>(() => PretrainedWeights.FromFile(_temp.Combine("absent.pt")));
        string text = _temp.Combine("weights.txt");
        File.Copy(good, text);
        Assert.Throws<NotSupportedException>(() => PretrainedWeights.FromFile(text));
    }

    private static void Rewrite(string source, string target, Func<string, byte[], byte[]> change)
    {
        using var input = ZipFile.OpenRead(source);
        using var output = ZipFile.Open(target, ZipArchiveMode.Create);
        foreach (var entry in input.Entries)
        {
            using var stream = entry.Open();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            using var written = output.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
            written.Write(change(entry.FullName, buffer.ToArray()));
        }
    }
}
