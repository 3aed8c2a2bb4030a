using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>An image with a NaN or infinite pixel gets no class: PredictedLabel is the missing key (0) and every score
/// is NaN, on every scoring path.</summary>
public sealed class NonFiniteFeatureScoringTests
{
    private static (MLContext Ml, CnnTransformer Model, List<SyntheticTensors.Row> Rows) Train()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(48, 3, 1);
        var model = new CnnTrainer(ml,
            new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1,
                EmbeddingColumnName = "Embedding" })
            .Fit(SyntheticTensors.Keyed(ml, rows));
        return (ml, model, rows);
    }

    private static List<SyntheticTensors.Row> WithBadPixels(List<SyntheticTensors.Row> rows)
    {
        var scored = rows.Take(4).Select(r => new SyntheticTensors.Row { Features = (float[])r.Features.Clone(), Label = r.Label }).ToList();
        scored[1].Features[17] = float.NaN;
        scored[2].Features[0] = float.PositiveInfinity;
        return scored;
    }

    [Fact]
    public void TransformGivesAMissingKeyAndNaNScores()
    {
        var (ml, model, rows) = Train();
        using (model)
        {
            var scored =
                ml.Data.CreateEnumerable<Scored>(model.Transform(SyntheticTensors.Keyed(ml, WithBadPixels(rows), rows)),
                    reuseRowObject: false).ToList();
            foreach (int bad in new[] { 1, 2 })
            {
                Assert.Equal(0u, scored[bad].PredictedLabel);
                Assert.All(scored[bad].Score, s => Assert.True(float.IsNaN(s)));
                Assert.All(scored[bad].Embedding, s => Assert.True(float.IsNaN(s)));
            }
            foreach (int good in new[] { 0, 3 })
            {
                Assert.InRange(scored[good].PredictedLabel, 1u, 3u);
                Assert.All(scored[good].Score, s => Assert.True(float.IsFinite(s)));
            }
        }
    }

    [Fact]
    public void PredictionEngineGivesAMissingKeyAndNaNScores()
    {
        var (ml, model, rows) = Train();
        using (model)
        {
            var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, Scored>(model, inputSchemaDefinition: null);
            var bad = WithBadPixels(rows);
            var nan = engine.Predict(bad[1]);
            Assert.Equal(0u, nan.PredictedLabel);
            Assert.All(nan.Score, s => Assert.True(float.IsNaN(s)));
            var infinite = engine.Predict(bad[2]);
            Assert.Equal(0u, infinite.PredictedLabel);
            var good = engine.Predict(bad[0]);
            Assert.InRange(good.PredictedLabel, 1u, 3u);
        }
    }

    [Fact]
    public void TheFinitenessCheckSeesEveryValue()
    {
        var values = new float[37];
        Assert.True(ScoringNetwork.AllFinite(values));
        for (int i = 0; i < values.Length; i++)
        {
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                values[i] = bad;
                Assert.False(ScoringNetwork.AllFinite(values));
            }
            values[i] = float.MaxValue;
        }
        Assert.True(ScoringNetwork.AllFinite(values));
    }

    private sealed class Scored
    {
        [KeyType(3)]
        public uint PredictedLabel { get; set; }

        public float[] Score { get; set; } = [];

        public float[] Embedding { get; set; } = [];
    }
}
