using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>
/// Model files edited by a forger (checksum recomputed) or damaged (checksum not): every field of the CNN record is
/// covered by the checksum, and every forged size is refused before anything of that size is allocated, with an
/// <see cref="InvalidDataException"/> that names the file.
/// </summary>
public sealed class ForgedModelTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A copy of the test model whose CNN record <paramref name="edit"/> changed.</summary>
    private string ModelWith(Func<byte[], byte[]> edit)
    {
        string path = _temp.Combine(Guid.NewGuid().ToString("N") + ".zip");
        File.WriteAllBytes(path, SmallSavedModel.Bytes);
        ModelFileEditor.WriteEntry(path, edit(ModelFileEditor.ReadEntry(path)));
        return path;
    }

    private static InvalidDataException LoadFails(string path)
    {
        var error = Assert.Throws<InvalidDataException>(() => new MLContext().Model.LoadCnnModel(path, out _));
        Assert.Contains(path, error.Message);
        return error;
    }

    private static byte[] Edited(byte[] entry, Action<byte[], ModelFileEditor.Layout> edit)
    {
        var copy = (byte[])entry.Clone();
        edit(copy, ModelFileEditor.Locate(copy));
        return copy;
    }

    public static TheoryData<string> HeaderEdits => ["class name", "test-time augmentation", "input mean", "image height"];

    [Theory]
    [MemberData(nameof(HeaderEdits))]
    public void AnEditedHeaderFieldFailsTheChecksum(string field)
    {
        string path = ModelWith(entry => Edited(entry, (bytes, at) =>
        {
            switch (field)
            {
                case "class name": bytes[at.FirstLabelValue + 2] = (byte)'8'; break; // "c0" -> "c8"
                case "test-time augmentation": ModelFileEditor.WriteInt32(bytes, at.TestTimeAugmentation, 1); break;
                case "input mean": bytes[at.Mean + 4] ^= 0x01; break;
                default: ModelFileEditor.WriteInt32(bytes, at.Height, 17); break;
            }
        }));

        Assert.Contains("checksum", LoadFails(path).Message);
    }

    [Theory]
    [InlineData(2_000_000)]
    [InlineData(16_000_000)]
    public void AForgedClassCountIsRefusedBeforeTheNetworkIsBuilt(int classes)
    {
        string path = ModelWith(entry => ModelFileEditor.Rehash(Edited(entry, (bytes, at) =>
        {
            ModelFileEditor.WriteInt32(bytes, at.Classes, classes);
            ModelFileEditor.WriteInt32(bytes, at.LabelValueCount, classes);
        })));

        var error = LoadFails(path);
        // The label values' count is checked against the bytes left, before any array of that size exists.
        Assert.Contains($"label value count ({classes}) is impossible", error.Message);
    }

    [Fact]
    public void AClassCountThatTheWeightsCannotHoldIsRefusedBeforeTheNetworkIsBuilt()
    {
        // Class count and label values agree, both forged; the weights (about 45,000 values) cannot hold 100,000 outputs.
        string path = ModelWith(entry =>
        {
            var at = ModelFileEditor.Locate(entry);
            var names = Enumerable.Range(0, 100_000).SelectMany(i => new[] { (byte)1, (byte)'x' }).ToArray();
            var forged = (byte[])entry.Clone();
            ModelFileEditor.WriteInt32(forged, at.Classes, 100_000);
            ModelFileEditor.WriteInt32(forged, at.LabelValueCount, 100_000);
            return ModelFileEditor.Rehash([.. forged.AsSpan(0, at.FirstLabelValue), .. names, .. forged.AsSpan(at.Mean)]);
        });

        Assert.Contains("100000 classes and 1 channels, but its weights hold only", LoadFails(path).Message);
    }

    [Fact]
    public void AForgedChannelCountIsRefused()
    {
        string path =
            ModelWith(entry =>
                ModelFileEditor.Rehash(Edited(entry,
                    (bytes, at) => ModelFileEditor.WriteInt32(bytes, at.Channels, 4_000_000))));

        Assert.Contains("input shape 4000000×16×16 is impossible", LoadFails(path).Message);
    }

    [Fact]
    public void AForgedScoringBatchSizeIsRefused()
    {
        string path =
            ModelWith(entry =>
                ModelFileEditor.Rehash(Edited(entry,
                    (bytes, at) => ModelFileEditor.WriteInt32(bytes, at.ScoringBatchSize, 3_000_000))));

        Assert.Contains("scoring batch size (3000000) is above the maximum", LoadFails(path).Message);
    }

    [Fact]
    public void AForgedTensorRankIsRefusedBeforeTorchSharpReadsIt()
    {
        string path = ModelWith(entry =>
        {
            byte[] weights = entry[ModelFileEditor.Locate(entry).Weights..];
            // TorchSharp's layout: LEB128 tensor count, then the first tensor's name, LEB128 element type and LEB128 rank.
            int name = 1, type = name + 1 + weights[name], rank = type + 1;
            byte[] forgedRank = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]; // 2^40
            byte[] forged = [.. weights.AsSpan(0, rank), .. forgedRank, .. weights.AsSpan(rank + 1)];
            return ModelFileEditor.Rehash(ModelFileEditor.ReplaceWeights(entry, forged));
        });

        Assert.Contains("claims 1099511627776 dimensions", LoadFails(path).Message);
    }

    [Fact]
    public void AForgedImageSizeIsRefusedBeforeANetworkOfThatSizeIsBuilt()
    {
        // LeNet-5's first fully connected layer grows with the image: at 4096×4096 it would be 120 × 16,679,056 values (8 GB).
        string path = ModelWith(entry => ModelFileEditor.Rehash(Edited(entry, (bytes, at) =>
        {
            ModelFileEditor.WriteInt32(bytes, at.Height, 4096);
            ModelFileEditor.WriteInt32(bytes, at.Width, 4096);
        })));

        Assert.Contains("the recorded image size does not belong to these weights", LoadFails(path).Message);
    }

    // The test model's weights hold about 45,000 values; each name asks for far more (AirbenchNet-100000 for 5 × 10^12).
    [Theory]
    [InlineData("AirbenchNet-100000")]
    [InlineData("ResNet9-100000")]
    [InlineData("Mlp100000000")]
    [InlineData("CnnNFeature1000000")]
    [InlineData("ResNet-64-64-64-64")]
    public void AForgedArchitectureWidthIsRefusedBeforeTheNetworkIsBuilt(string name)
    {
        string path = ModelWith(entry => ModelFileEditor.Rehash(ModelFileEditor.ReplaceArchitectureName(entry, name)));

        var error = LoadFails(path);
        Assert.Contains($"architecture {name} at 1×16×16 with 3 classes holds at least", error.Message);
        Assert.Contains("the architecture name does not belong to these weights", error.Message);
    }

    [Theory]
    [InlineData("LeNet5", 100, 100)]
    [InlineData("Mlp8", 70, 150)]
    [InlineData("ResNet9-8", 96, 96)]
    public void ModelsOfLargerImagesLoadDespiteTheSizeCheck(string architectureName, int height, int width)
    {
        var architecture = architectureName switch { "LeNet5" => CnnArchitecture.LeNet5,
            "Mlp8" => CnnArchitecture.Mlp(8), _ => CnnArchitecture.ResNet9(8) };
        var shape = new ImageShape(1, height, width);
        using var model = new CnnTransformer(architecture,
            new ScoringNetwork(architecture, architecture.CreateModule(1, height, width, 3),
                InputStandardization.Identity(1), shape, 3),
            "Features", null, [], 16);
        string path = _temp.Combine("large.zip");
        var ml = new MLContext();
        ml.Model.SaveAtomically(model, null, path);

        using var loaded = (CnnTransformer)ml.Model.LoadCnnModel(path, out _);

        Assert.Equal(shape, loaded.InputShape);
    }

    [Fact]
    public void WeightsOfAnotherShapeAreRefusedWithTheTensorNamed()
    {
        string path = ModelWith(entry => ModelFileEditor.Rehash(Edited(entry, (bytes, at) => ModelFileEditor.WriteInt32(bytes, at.Height, 20))));

        var error = LoadFails(path);
        Assert.Contains("'classifier.0.weight' is Float32 120×64 in the weights; LeNet5 at 1×20×16 with 3 classes "
            + "expects Float32 120×96", error.Message);
    }

    [Fact]
    public void AModelOfFormatVersion3StillLoadsWithIdenticalScores()
    {
        string current = _temp.Combine("current.zip"), legacy = ModelWith(ModelFileEditor.ToVersion3);
        File.WriteAllBytes(current, SmallSavedModel.Bytes);
        var ml = new MLContext();
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(9, 3, 7));

        using var expected = (CnnTransformer)ml.Model.LoadCnnModel(current, out _);
        using var actual = (CnnTransformer)ml.Model.LoadCnnModel(legacy, out _);

        Assert.Equal(Scores(ml, expected, data), Scores(ml, actual, data));
    }

    private static float[] Scores(MLContext ml, ITransformer model, IDataView data)
        => model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s).ToArray();
}
