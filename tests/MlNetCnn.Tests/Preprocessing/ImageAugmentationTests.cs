using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

// Compares seeded training runs bit for bit (AugmentedTrainingIsReproducibleWithTheSameSeed), so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class ImageAugmentationTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Tensor Batch(int n = 4, int channels = 3, int size = 8)
        => arange(n * channels * size * size, dtype: float32).reshape(n, channels, size, size).div(n * channels * size * size);

    /// <summary>Each image's row in its batch source (here simply its position).</summary>
    private static int[] Rows(Tensor batch) => Enumerable.Range(0, (int)batch.shape[0]).ToArray();

    [Fact]
    public void FlipsMirrorTheImages()
    {
        using var scope = NewDisposeScope();
        var batch = Batch();
        var flipped =
            new ImageAugmenter(new ImageAugmentationOptions { HorizontalFlipProbability = 1,
                VerticalFlipProbability = 1 }, seed: 0).Apply(batch, new Random(1), 1, Rows(batch));
        Assert.True(Same(flipped, batch.flip(3).flip(2)));
        Assert.True(Same(batch, Batch()), "the input batch must not be modified");
    }

    [Fact]
    public void CropWithPaddingShiftsEachImageWithinThePadding()
    {
        using var scope = NewDisposeScope();
        var batch = Batch(n: 16, channels: 1);
        var cropped = new ImageAugmenter(new ImageAugmentationOptions { CropPadding = 2 }, seed: 0).Apply(batch, new Random(3), 1, Rows(batch));
        Assert.Equal(batch.shape, cropped.shape);
        // Each crop is the original shifted by at most 2 pixels: some image of the batch must have moved.
        Assert.False(Same(cropped, batch));
        for (int i = 0; i < 16; i++)
        {
            bool matched = false;
            for (int dy = -2; dy <= 2 && !matched; dy++)
            {
                for (int dx = -2; dx <= 2 && !matched; dx++)
                {
                    var shifted = nn.functional.pad(batch[i], [2, 2, 2, 2]).narrow(1, 2 + dy, 8).narrow(2, 2 + dx, 8);
                    matched = Same(shifted, cropped[i]);
                }
            }
            Assert.True(matched, $"image {i} is not a shifted crop");
        }
    }

    [Fact]
    public void ErasingZeroesARectangleOfTheExpectedSize()
    {
        using var scope = NewDisposeScope();
        var batch = ones(32, 1, 20, 20);
        var erased = new ImageAugmenter(new ImageAugmentationOptions { ErasingProbability = 1 }, seed: 0).Apply(batch, new Random(5), 1, Rows(batch));
        var zeroFraction = erased.eq(0).to(float32).mean([1, 2, 3]).data<float>().ToArray();
        Assert.All(zeroFraction, f => Assert.InRange(f, 0.015, 0.34));
    }

    [Fact]
    public void EveryOperationKeepsTheShapeAndIsReproducibleWithTheSameSeed()
    {
        using var scope = NewDisposeScope();
        var options = new ImageAugmentationOptions
        {
            CropPadding = 2, CropPaddingMode = CropPadding.Reflect, HorizontalFlipProbability = 0.5, VerticalFlipProbability = 0.5,
            MaxRotationDegrees = 15, MaxTranslation = 0.1, Brightness = 0.2, Contrast = 0.2, Saturation = 0.2, ErasingProbability = 0.5,
        };
        var augmenter = new ImageAugmenter(options, seed: 0);
        var batch = Batch(n: 8);
        var first = augmenter.Apply(batch, new Random(11), 1, Rows(batch));
        Assert.Equal(batch.shape, first.shape);
        Assert.True(first.isfinite().all().item<bool>());
        Assert.True(Same(first, augmenter.Apply(batch, new Random(11), 1, Rows(batch))));
        Assert.False(Same(first, augmenter.Apply(batch, new Random(12), 1, Rows(batch))));
        Assert.Equal(options.Serialize(), ImageAugmentationOptions.Parse(options.Serialize()).Serialize());
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        var ml = new MLContext();
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.AugmentImages(new ImageAugmentationOptions { HorizontalFlipProbability = 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.AugmentImages(new ImageAugmentationOptions { CropPadding = -1 }));
    }

    private static EstimatorChain<Microsoft.ML.Transforms.KeyToValueMappingTransformer> Pipeline(MLContext ml,
        ImageAugmentationOptions? augmentation, int seed)
    {
        var features = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image",
                colorsToExtract: Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Red,
                scaleImage: 1f / 255));
        var trainer = new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 2, BatchSize = 16, Seed = seed, NumberOfThreads = 1 });
        return augmentation is null
            ? features.Append(trainer).Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"))
            : features.Append(ml.Transforms.AugmentImages(augmentation)).Append(trainer)
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    }

    private sealed class Scored
    {
        public float[] Features { get; set; } = [];

        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void TrainingSeesAugmentedImagesAndEveryScoringPathSeesTheOriginals()
    {
        var heavy = new ImageAugmentationOptions { HorizontalFlipProbability = 1, ErasingProbability = 1, Brightness = 0.5 };
        var ml = new MLContext(seed: 1);
        var augmented = Pipeline(ml, heavy, seed: 4).Fit(fixture.Train);
        var plain = Pipeline(ml, null, seed: 4).Fit(fixture.Train);
        var augmentedCnn = augmented.OfType<CnnTransformer>().Single();
        var plainCnn = plain.OfType<CnnTransformer>().Single();

        // Same seed and data: only the augmentation differs, so the training losses differ.
        Assert.NotEqual(plainCnn.TrainingHistory[0].TrainLoss, augmentedCnn.TrainingHistory[0].TrainLoss);

        // Transform / Evaluate: the features reaching the network are the originals...
        var scored = ml.Data.CreateEnumerable<Scored>(augmented.Transform(fixture.Test), reuseRowObject: false).ToList();
        var originals = ml.Data.CreateEnumerable<Scored>(plain.Transform(fixture.Test), reuseRowObject: false).ToList();
        Assert.Equal(originals.Select(o => o.Features), scored.Select(s => s.Features));
        // ...and the scores are the network's on the originals (recomputed here without the augmentation step).
        var featuresOnly = plain.Take(5).Aggregate(fixture.Test, (data, t) => t.Transform(data));
        var direct = ml.Data.CreateEnumerable<Scored>(augmentedCnn.Transform(featuresOnly), reuseRowObject: false).ToList();
        Assert.Equal(direct.Select(d => d.Score), scored.Select(s => s.Score));
        Assert.InRange(ml.MulticlassClassification.Evaluate(augmented.Transform(fixture.Test)).MicroAccuracy, 0, 1);

        // PredictionEngine.
        var rows = ImageFolder.List(fixture.TestRoot);
        var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(augmented);
        var single = engine.Predict(new ImageInput { ImagePath = rows[0].ImagePath, Label = rows[0].Label });
        Assert.Equal(scored[0].Score, single.Score, new Tolerance(1e-5f));

        // Saved and reloaded.
        string path = Path.Combine(Path.GetTempPath(), $"augmented-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(augmented, fixture.Train.Schema, path);
            var loaded = new MLContext().Model.Load(path, out _);
            Assert.Contains(((TransformerChain<ITransformer>)loaded), t => t is ImageAugmentingTransformer);
            var reloaded = ml.Data.CreateEnumerable<Scored>(loaded.Transform(fixture.Test), reuseRowObject: false).ToList();
            Assert.Equal(scored.Select(s => s.Score), reloaded.Select(r => r.Score));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AugmentedTrainingIsReproducibleWithTheSameSeed()
    {
        var options = ImageAugmentationOptions.CropAndFlip(padding: 2);
        var first = Pipeline(new MLContext(seed: 1), options, seed: 8).Fit(fixture.Train).OfType<CnnTransformer>().Single();
        var second = Pipeline(new MLContext(seed: 1), options, seed: 8).Fit(fixture.Train).OfType<CnnTransformer>().Single();
        Assert.Equal(first.TrainingHistory.Select(e => e.TrainLoss), second.TrainingHistory.Select(e => e.TrainLoss));
    }

    private sealed class Tolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
