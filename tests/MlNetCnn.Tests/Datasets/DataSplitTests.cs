using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class DataSplitTests
{
    private sealed class Row
    {
        public int Id { get; set; }

        public string Label { get; set; } = "";
    }

    private static IDataView Rows(MLContext ml, params (string Label, int Count)[] classes)
    {
        var rows = new List<Row>();
        int id = 0;
        // Interleave the classes so a split that ignored labels would not keep their proportions by chance.
        for (int i = 0; rows.Count < classes.Sum(c => c.Count); i++)
        {
            foreach (var (label, count) in classes)
            {
                if (i < count)
                    rows.Add(new Row { Id = id++, Label = label });
            }
        }
        return ml.Data.LoadFromEnumerable(rows);
    }

    [Fact]
    public void KeepsEveryClassProportionAndEveryRowExactlyOnce()
    {
        var ml = new MLContext(seed: 1);
        var data = Rows(ml, ("a", 100), ("b", 40), ("c", 10));

        var (train, validation) = DataSplit.StratifiedTrainValidation(ml, data, 0.2, seed: 7);

        var trainRows = ml.Data.CreateEnumerable<Row>(train, reuseRowObject: false).ToList();
        var validationRows = ml.Data.CreateEnumerable<Row>(validation, reuseRowObject: false).ToList();
        Assert.Equal(new Dictionary<string, int> { ["a"] = 20, ["b"] = 8, ["c"] = 2 }, validationRows.CountBy(r => r.Label).ToDictionary());
        Assert.Equal(new Dictionary<string, int> { ["a"] = 80, ["b"] = 32, ["c"] = 8 }, trainRows.CountBy(r => r.Label).ToDictionary());
        Assert.Equal(Enumerable.Range(0, 150), trainRows.Concat(validationRows).Select(r => r.Id).Order());
        Assert.Equal(120, train.GetRowCount());
        Assert.Equal(30, validation.GetRowCount());
        Assert.True(trainRows.Select(r => r.Id).SequenceEqual(trainRows.Select(r => r.Id).Order()), "the source order is kept");
        Assert.Equal(["Id", "Label"], train.Schema.Select(c => c.Name));
    }

    [Fact]
    public void IsReproducibleWithASeedAndWorksOnKeyLabels()
    {
        var ml = new MLContext(seed: 1);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(Rows(ml, ("x", 30), ("y", 30))).Transform(Rows(ml, ("x", 30), ("y", 30)));

        var first = DataSplit.StratifiedTrainValidation(ml, keyed, 0.25, seed: 3).Validation.GetColumn<int>("Id").ToArray();
        var again = DataSplit.StratifiedTrainValidation(ml, keyed, 0.25, seed: 3).Validation.GetColumn<int>("Id").ToArray();
        var other = DataSplit.StratifiedTrainValidation(ml, keyed, 0.25, seed: 4).Validation.GetColumn<int>("Id").ToArray();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(16, first.Length); // round(7.5) = 8 per class
        Assert.Equal(
            DataSplit.StratifiedTrainValidation(new MLContext(seed: 5), keyed, 0.25).Validation.GetColumn<int>("Id"),
            DataSplit.StratifiedTrainValidation(new MLContext(seed: 5), keyed, 0.25).Validation.GetColumn<int>("Id"));
    }

    [Fact]
    public void GivesClearErrors()
    {
        var ml = new MLContext(seed: 1);
        var data = Rows(ml, ("a", 5), ("b", 5));

        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.StratifiedTrainValidation(ml, data, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.StratifiedTrainValidation(ml, data, 1));
        Assert.Contains("'Class'",
            Assert.Throws<ArgumentOutOfRangeException>(() =>
                DataSplit.StratifiedTrainValidation(ml, data, 0.5, "Class")).Message);
        Assert.Contains("fewer than 2",
            Assert.Throws<InvalidOperationException>(() =>
                DataSplit.StratifiedTrainValidation(ml, Rows(ml, ("a", 1), ("b", 1)), 0.5)).Message);
    }
}
