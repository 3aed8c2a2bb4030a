using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary><c>mlContext.Model.SaveAtomically</c>: the previous model survives every failed save.</summary>
public sealed class SaveAtomicallyTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (MLContext Ml, IDataView Data, CnnTransformer Model) Train(int seed)
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(30, 3, 1));
        return (ml, data, new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = seed, NumberOfThreads = 1 }).Fit(data));
    }

    private static float[] Scores(ITransformer model, IDataView data) => model.Transform(data)
        .GetColumn<float[]>("Score").SelectMany(s => s).ToArray();

    [Fact]
    public void ReplacesTheModelAndLeavesOnlyTheModelFile()
    {
        var (ml, data, first) = Train(seed: 1);
        var (_, _, second) = Train(seed: 2);
        using (first)
        using (second)
        {
            string path = _temp.Combine("model.zip");
            ml.Model.SaveAtomically(first, data.Schema, path);
            ml.Model.SaveAtomically(second, data.Schema, path);

            using var loaded = (CnnTransformer)new MLContext().Model.Load(path, out _);
            Assert.Equal(Scores(second, data), Scores(loaded, data));
            Assert.Equal([path], Directory.GetFiles(_temp.Path));
        }
    }

    [Fact]
    public void AFailingSaveLeavesThePreviousModelLoadableAndNoTemporaryFile()
    {
        var (ml, data, model) = Train(seed: 1);
        using (model)
        {
            string path = _temp.Combine("model.zip");
            ml.Model.SaveAtomically(model, data.Schema, path);
            byte[] saved = File.ReadAllBytes(path);
            // A chain whose second transformer fails half-way through the save, after the CNN was written.
            var failing = new TransformerChain<ITransformer>(model, new FailingSaveTransformer());

            var error = Assert.Throws<IOException>(() => ml.Model.SaveAtomically(failing, data.Schema, path));

            Assert.Equal("No space left on device", error.Message);
            Assert.Equal(saved, File.ReadAllBytes(path));
            using var loaded = (CnnTransformer)new MLContext().Model.Load(path, out _);
            Assert.Equal(Scores(model, data), Scores(loaded, data));
            Assert.Equal([path], Directory.GetFiles(_temp.Path));
        }
    }

    [Fact]
    public void TheTemporaryFileOfAKilledSaveIsRemovedByTheNextSave()
    {
        var (ml, data, model) = Train(seed: 1);
        using (model)
        {
            string path = _temp.Combine("model.zip");
            string killed = _temp.Combine($".model.zip.{Guid.NewGuid():N}.tmp"), other = _temp.Combine($".other.zip.{Guid.NewGuid():N}.tmp");
            File.WriteAllBytes(killed, new byte[100]);
            File.WriteAllBytes(other, new byte[100]);

            ml.Model.SaveAtomically(model, data.Schema, path);

            Assert.False(File.Exists(killed));
            Assert.True(File.Exists(other));
        }
    }

    [Fact]
    public void AMissingFolderIsNamed()
    {
        var (ml, data, model) = Train(seed: 1);
        using (model)
        {
            string path = _temp.Combine("missing", "model.zip");
            var error = Assert.Throws<DirectoryNotFoundException>(() => ml.Model.SaveAtomically(model, data.Schema, path));
            Assert.Contains(_temp.Combine("missing"), error.Message);
        }
    }

    /// <summary>Passes data through; saving it fails as a full disk would.</summary>
    private sealed class FailingSaveTransformer : ITransformer
    {
        public bool IsRowToRowMapper => false;

        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;

        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();

        public IDataView Transform(IDataView input) => input;

        void ICanSaveModel.Save(ModelSaveContext ctx) => throw new IOException("No space left on device");
    }
}
