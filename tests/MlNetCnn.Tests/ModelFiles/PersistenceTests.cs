using System.Globalization;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class PersistenceTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    private static List<(string Label, float[] Score)> Score(MLContext ml, ITransformer model, IDataView data)
        => ml.Data.CreateEnumerable<ImagePrediction>(model.Transform(data), reuseRowObject: false)
            .Select(p => (p.PredictedLabel, p.Score)).ToList();

    [Fact]
    public void SavedModelLoadsInTheSameProcessWithBitIdenticalScores()
    {
        string path = fixture.NewPath("model.zip");
        fixture.Ml.Model.Save(fixture.Model, fixture.Train.Schema, path);

        var ml = new MLContext();
        using var loaded = (IDisposable)ml.Model.Load(path, out var schema);
        Assert.NotNull(schema.GetColumnOrNull("ImagePath"));
        var cnn = ((TransformerChain<ITransformer>)loaded).OfType<CnnTransformer>().Single();
        Assert.Equal(new ImageShape(1, 28, 28), cnn.InputShape);
        Assert.Equal(2, cnn.TrainingHistory.Count);

        var expected = Score(fixture.Ml, fixture.Model, fixture.Test);
        var actual = Score(ml, (ITransformer)loaded, fixture.Test);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Label, actual[i].Label);
            Assert.Equal(expected[i].Score, actual[i].Score);
        }
    }

    [Fact]
    public void SavedModelLoadsInAnotherProcessWithoutRegistrationAndScoresBitIdentically()
    {
        string path = fixture.NewPath("model.zip");
        fixture.Ml.Model.Save(fixture.Model, fixture.Train.Schema, path);
        var rows = ImageFolder.List(fixture.TestRoot);
        string list = fixture.NewPath("images.tsv"), output = fixture.NewPath("scores.txt");
        File.WriteAllLines(list, rows.Select(r => r.ImagePath + "\t" + r.Label));

        RunProbe(path, list, output);

        var lines = File.ReadAllLines(output);
        Assert.Contains("CnnTransformer", lines[0]);
        var expected = Score(fixture.Ml, fixture.Model, fixture.Ml.Data.LoadFromEnumerable(rows));
        for (int i = 0; i < expected.Count; i++)
        {
            string bits = string.Join(" ",
                expected[i].Score.Select(s => BitConverter.SingleToInt32Bits(s)
                    .ToString("x8", CultureInfo.InvariantCulture)));
            Assert.Equal(expected[i].Label + " " + bits, lines[i + 1]);
        }
        Assert.Equal("engine " + expected[0].Label, lines[^1]);
    }

    private static void RunProbe(params string[] arguments) => ModelLoadProbeApp.Run(arguments);

    [Fact]
    public void DamagedWeightsAreRejectedWithAClearErrorBeforeReachingNativeCode()
    {
        string path = fixture.NewPath("model.zip");
        fixture.Ml.Model.Save(fixture.Model, fixture.Train.Schema, path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith("CnnModel.bin", StringComparison.Ordinal));
            byte[] bytes;
            using (var stream = entry.Open())
            using (var copy = new MemoryStream())
            {
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            bytes[^10] ^= 0xFF;
            entry.Delete();
            using var replaced = zip.CreateEntry(entry.FullName).Open();
            replaced.Write(bytes);
        }

        var error = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _));
        Assert.Contains("checksum", Flatten(error));
    }

    [Fact]
    public void TruncatedModelFileFailsWithAManagedError()
    {
        string path = fixture.NewPath("model.zip");
        fixture.Ml.Model.Save(fixture.Model, fixture.Train.Schema, path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _));
    }

    [Fact]
    public void ModelOfAnUnregisteredCustomArchitectureNamesTheFix()
    {
        var ml = new MLContext(seed: 1);
        string name = "TinyTestNet-" + Guid.NewGuid().ToString("N");
        var architecture = CnnArchitecture.Custom(name, (c, h, w, k) => TorchSharp.torch.nn.Sequential(
            ("flatten", TorchSharp.torch.nn.Flatten()), ("fc", TorchSharp.torch.nn.Linear(c * h * w, k))));
        using var model = (IDisposable)PipelineTests.GrayscalePipeline(ml,
            new CnnTrainerOptions { Architecture = architecture, Epochs = 1 }).Fit(fixture.Train);
        string path = fixture.NewPath("custom.zip");
        ml.Model.Save((ITransformer)model, fixture.Train.Schema, path);

        // Loading works while the architecture is registered...
        using ((IDisposable)new MLContext().Model.Load(path, out _))
        {
        }
        Assert.Same(architecture, CnnArchitecture.FromName(name));
        Assert.Throws<ArgumentException>(() => CnnArchitecture.Custom(name, (c, h, w, k) => TorchSharp.torch.nn.Identity()));
        // ...and an unknown one explains what to do.
        var error = Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName(name + "-missing"));
        Assert.Contains("CnnArchitecture.Custom", error.Message);
    }

    internal static string Flatten(Exception error)
    {
        var messages = new List<string>();
        for (Exception? e = error; e != null; e = e.InnerException)
            messages.Add(e.Message);
        return string.Join(" | ", messages);
    }
}
