using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class CnnModelExtensionsTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    [Fact]
    public void FindsTheCnnInANestedChainAfterSaveAndLoad()
    {
        // Prepending a pipeline nests the fitted chain one level down: Model.Load keeps that nesting.
        var ml = new MLContext(seed: 1);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true))
            .Append(ml.MulticlassClassification.Trainers.Cnn(epochs: 2, batchSize: 16));
        using var model = pipeline.Fit(fixture.Train);
        string path = fixture.NewPath("nested.zip");
        ml.Model.Save(model, fixture.Train.Schema, path);

        var loaded = new MLContext().Model.Load(path, out _);
        try
        {
            var cnn = loaded.GetCnnTransformer();
            Assert.Equal(fixture.Train.GetColumn<string>("Label").Distinct().Order(), cnn.ClassNames.Order());
            Assert.Equal(2, cnn.TrainingHistory.Count);
            Assert.Equal(new ImageShape(1, 28, 28), cnn.InputShape);
            Assert.Equal(model.GetCnnTransformer().TrainingHistory, cnn.TrainingHistory);
            Assert.Equal(model.GetCnnTransformer().Summary().TotalParameters, cnn.Summary().TotalParameters);
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void ReturnsTheTransformerItselfAndExplainsAModelWithoutACnn()
    {
        var cnn = fixture.Model.GetCnnTransformer();
        Assert.Same(cnn, cnn.GetCnnTransformer());

        var ml = new MLContext();
        var withoutCnn = ml.Transforms.Conversion.MapValueToKey("Label").Fit(fixture.Train);
        Assert.Contains("holds no CnnTransformer", Assert.Throws<InvalidOperationException>(() => withoutCnn.GetCnnTransformer()).Message);
    }
}
