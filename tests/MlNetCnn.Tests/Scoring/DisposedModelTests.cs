using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>Using a <see cref="CnnTransformer"/> after Dispose freed its network: a clear <see cref="ObjectDisposedException"/>.</summary>
public sealed class DisposedModelTests
{
    private static (MLContext Ml, IDataView Data, CnnTransformer Model) Train()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(30, 3, 1));
        return (ml, data, new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 1, NumberOfThreads = 1 }).Fit(data));
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void ScoringAfterDisposeNamesTheTransformer()
    {
        var (ml, data, model) = Train();
        var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, Prediction>(model, inputSchemaDefinition: null);
        var scored = model.Transform(data);
        var row = SyntheticTensors.Rows(1, 3, 2)[0];
        Assert.Equal(3, engine.Predict(row).Score.Length);

        model.Dispose();
        model.Dispose(); // twice is harmless

        Assert.Equal(nameof(CnnTransformer), Assert.Throws<ObjectDisposedException>(() => engine.Predict(row)).ObjectName);
        Assert.Equal(nameof(CnnTransformer), Assert.Throws<ObjectDisposedException>(() => model.Transform(data)).ObjectName);
        Assert.Equal(nameof(CnnTransformer), Assert.Throws<ObjectDisposedException>(() => scored.GetColumn<float[]>("Score").ToList()).ObjectName);
        Assert.Throws<ObjectDisposedException>(() => model.Summary());
    }

    [Fact]
    public void ADisposedInitialModelIsNamed()
    {
        var (ml, data, model) = Train();
        model.Dispose();

        var error = Assert.Throws<ObjectDisposedException>(() =>
            new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, NumberOfThreads = 1, InitialModel = model }).Fit(data));

        Assert.Contains("InitialModel was disposed", error.Message);
    }
}
