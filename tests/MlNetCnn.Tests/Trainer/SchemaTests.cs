using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class SchemaTests
{
    private sealed class FlatRow
    {
        [VectorType(784)]
        public float[] Features { get; set; } = new float[784];

        public string Label { get; set; } = "a";
    }

    private sealed class ShapedRow
    {
        [VectorType(3, 8, 8)]
        public float[] Pixels { get; set; } = new float[192];

        public uint Label { get; set; }
    }

    private sealed class TextRow
    {
        public string Features { get; set; } = "";

        public string Label { get; set; } = "a";
    }

    private static IDataView Rows<T>(MLContext ml, params T[] rows) where T : class => ml.Data.LoadFromEnumerable(rows);

    [Fact]
    public void MissingFeatureColumnIsNamed()
    {
        var ml = new MLContext();
        var data = ml.Transforms.Conversion.MapValueToKey("Label")
            .Fit(Rows(ml, new FlatRow(), new FlatRow { Label = "b" })).Transform(Rows(ml, new FlatRow()));
        var trainer = new CnnTrainer(ml, new CnnTrainerOptions { FeatureColumnName = "Pixels" });
        var error = Assert.ThrowsAny<ArgumentException>(() => trainer.Fit(data));
        Assert.Contains("'Pixels'", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.GetOutputSchema(SchemaShapeOf(data)));
    }

    [Fact]
    public void TextFeatureColumnIsRejectedWithTheExpectedType()
    {
        var ml = new MLContext();
        var data = ml.Transforms.Conversion.MapValueToKey("Label")
            .Fit(Rows(ml, new TextRow(), new TextRow { Label = "b" })).Transform(Rows(ml, new TextRow()));
        var error = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml).Fit(data));
        Assert.Contains("Schema mismatch for feature column 'Features'", error.Message);
        Assert.Contains("vector of Single", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml).GetOutputSchema(SchemaShapeOf(data)));
    }

    [Fact]
    public void LabelThatIsNotAKeyIsRejected()
    {
        var ml = new MLContext();
        var data = Rows(ml, new FlatRow(), new FlatRow { Label = "b" });
        var error = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml).Fit(data));
        Assert.Contains("label column 'Label'", error.Message);
        Assert.Contains("MapValueToKey", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml).GetOutputSchema(SchemaShapeOf(data)));
    }

    [Fact]
    public void ConfiguredShapeThatDoesNotMatchTheVectorIsRejected()
    {
        var ml = new MLContext();
        var data = ml.Transforms.Conversion.MapValueToKey("Label")
            .Fit(Rows(ml, new FlatRow(), new FlatRow { Label = "b" }))
            .Transform(Rows(ml, new FlatRow(), new FlatRow { Label = "b" }));
        var options = new CnnTrainerOptions { Channels = 3, ImageHeight = 32, ImageWidth = 32 };
        var error = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, options).Fit(data));
        Assert.Contains("size 784", error.Message);
    }

    [Theory]
    [InlineData(784, null, null, null, 1, 28, 28)]
    [InlineData(3072, null, null, null, 3, 32, 32)]
    [InlineData(1200, 3, 20, null, 3, 20, 20)]
    [InlineData(600, null, 20, 30, 1, 20, 30)]
    [InlineData(512, null, 16, 16, 2, 16, 16)]
    public void FlatVectorsGetTheirShapeInferred(int size, int? c, int? h, int? w, int ec, int eh, int ew)
    {
        var schema = new DataViewSchema.Builder();
        schema.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single, size));
        var (_, shape) = InputColumns.ResolveImage(schema.ToSchema(), "Features", c, h, w);
        Assert.Equal(new ImageShape(ec, eh, ew), shape);
    }

    [Fact]
    public void VectorDimensionsGiveTheShapeAndMustAgreeWithOptions()
    {
        var schema = new DataViewSchema.Builder();
        schema.AddColumn("Pixels", new VectorDataViewType(NumberDataViewType.Single, 3, 8, 8));
        Assert.Equal(new ImageShape(3, 8, 8), InputColumns.ResolveImage(schema.ToSchema(), "Pixels", null, null, null).Shape);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => InputColumns.ResolveImage(schema.ToSchema(), "Pixels", 1, null, null));
        Assert.Contains("3×8×8", error.Message);
    }

    [Fact]
    public void OutputSchemaAddsScoreAndPredictedLabelWithClassNames()
    {
        var ml = new MLContext();
        var data = ml.Transforms.Conversion.MapValueToKey("Label")
            .Fit(Rows(ml, new FlatRow(), new FlatRow { Label = "b" })).Transform(Rows(ml, new FlatRow()));
        var shape = new CnnTrainer(ml).GetOutputSchema(SchemaShapeOf(data));
        var score = shape.Single(c => c.Name == "Score");
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, score.Kind);
        Assert.Contains(score.Annotations, a => a.Name == "SlotNames");
        var predicted = shape.Single(c => c.Name == "PredictedLabel");
        Assert.True(predicted.IsKey);
        Assert.Contains(predicted.Annotations, a => a.Name == "KeyValues");
    }

    [Fact]
    public void InvalidOptionsFailAtConstruction()
    {
        var ml = new MLContext();
        Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, new CnnTrainerOptions { LearningRate = double.NaN }));
        Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, new CnnTrainerOptions { BatchSize = -1 }));
    }

    [Fact]
    public void ImagesTooSmallForTheArchitectureNameTheMinimum()
    {
        var error = Assert.Throws<ArgumentException>(() => CnnArchitecture.LeNet5.CreateModule(1, 8, 8, 10));
        Assert.Contains("at least 12×12", error.Message);
    }

    [Fact]
    public void TrainedTransformerRejectsImagesOfAnotherSize()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 16).Select(i => new ShapedRow { Label = (uint)(i % 2 + 1) }).ToArray();
        var keyed = ml.Data.LoadFromEnumerable(rows, SchemaDefinitionWithKey<ShapedRow>(ml, 2));
        using var model = new CnnTrainer(ml,
            new CnnTrainerOptions { FeatureColumnName = "Pixels", Architecture = TinyArchitecture, Epochs = 1 })
            .Fit(keyed);
        var other = ml.Data.LoadFromEnumerable([new FlatRow()]);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => model.Transform(other));
        Assert.Contains("'Pixels'", error.Message);
    }

    internal static readonly CnnArchitecture TinyArchitecture = CnnArchitecture.Custom("SchemaTestsTiny",
        (c, h, w, k) => TorchSharp.torch.nn.Sequential(("flatten", TorchSharp.torch.nn.Flatten()), ("fc", TorchSharp.torch.nn.Linear(c * h * w, k))));

    internal static SchemaDefinition SchemaDefinitionWithKey<T>(MLContext ml, int classes)
    {
        var definition = SchemaDefinition.Create(typeof(T));
        definition["Label"].ColumnType = new KeyDataViewType(typeof(uint), classes);
        return definition;
    }

    private static SchemaShape SchemaShapeOf(IDataView data) => Persistence.MlNetInternals.ToSchemaShape(data.Schema);
}
