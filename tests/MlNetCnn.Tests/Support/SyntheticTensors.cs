using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>Small in-memory image datasets (1×16×16, learnable: each class brightens its own band of rows) with a key label.</summary>
internal static class SyntheticTensors
{
    public sealed class Row
    {
        [VectorType(1, 16, 16)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    public static List<Row> Rows(int count, int classes, int seed, bool shuffleLabels = false)
    {
        var random = new Random(seed);
        var rows = new List<Row>(count);
        for (int i = 0; i < count; i++)
        {
            int cls = i % classes;
            var pixels = new float[256];
            for (int p = 0; p < pixels.Length; p++)
                pixels[p] = (float)random.NextDouble() * 0.5f + (p / 16 * classes / 16 == cls ? 0.6f : 0f);
            rows.Add(new Row { Features = pixels, Label = $"c{(shuffleLabels ? random.Next(classes) : cls)}" });
        }
        return rows;
    }

    /// <summary>Keys the labels with a MapValueToKey fitted on <paramref name="keySource"/> (so train and validation share keys).</summary>
    public static IDataView Keyed(MLContext ml, IEnumerable<Row> rows, IEnumerable<Row>? keySource = null)
    {
        var data = ml.Data.LoadFromEnumerable(rows);
        return ml.Transforms.Conversion.MapValueToKey("Label").Fit(keySource is null ? data : ml.Data.LoadFromEnumerable(keySource)).Transform(data);
    }
}
