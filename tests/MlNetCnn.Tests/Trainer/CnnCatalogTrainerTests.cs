using Microsoft.ML;

namespace MlNetCnn.Tests;

public sealed class CnnCatalogTrainerTests
{
    [Fact]
    public void TheSimpleOverloadSetsTheNamedOptionsAndKeepsTheOtherDefaults()
    {
        var ml = new MLContext();
        var progress = new ConsoleTrainingProgress(TextWriter.Null, redrawInPlace: false);

        var trainer = ml.MulticlassClassification.Trainers.Cnn(labelColumnName: "Digit", featureColumnName: "Pixels",
            architecture: CnnArchitecture.Mlp(), epochs: 3, batchSize: 16, learningRate: 1e-3, progress: progress);

        var defaults = new CnnTrainerOptions();
        Assert.Equal("Digit", trainer.Options.LabelColumnName);
        Assert.Equal("Pixels", trainer.Options.FeatureColumnName);
        Assert.Same(CnnArchitecture.Mlp(), trainer.Options.Architecture);
        Assert.Equal((3, 16, 1e-3), (trainer.Options.Epochs, trainer.Options.BatchSize, trainer.Options.LearningRate));
        Assert.Same(progress, trainer.Options.Progress);
        Assert.Equal(defaults.Optimizer, trainer.Options.Optimizer);
        Assert.Equal(defaults.ScoringBatchSize, trainer.Options.ScoringBatchSize);

        var plain = ml.MulticlassClassification.Trainers.Cnn();
        Assert.Same(CnnArchitecture.LeNet5, plain.Options.Architecture);
        Assert.Equal((defaults.Epochs, defaults.BatchSize, "Label", "Features"),
            (plain.Options.Epochs, plain.Options.BatchSize, plain.Options.LabelColumnName, plain.Options.FeatureColumnName));
    }

    [Fact]
    public void BadValuesFailAtOnceNamingTheOption()
    {
        var ml = new MLContext();
        Assert.Contains("Epochs", Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Cnn(epochs: 0)).Message);
        Assert.Contains("LearningRate",
            Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.Cnn(learningRate: -1))
            .Message);
        Assert.Throws<ArgumentNullException>(() => ml.MulticlassClassification.Trainers.Cnn((CnnTrainerOptions)null!));
    }
}
