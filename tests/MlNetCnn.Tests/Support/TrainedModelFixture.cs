using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>One small trained pipeline (LeNet-5 on synthetic 28×28 images) shared by the tests that only read it.</summary>
public sealed class TrainedModelFixture : IDisposable
{
    private readonly TempFolder _temp = new();

    public TrainedModelFixture()
    {
        Ml = new MLContext(seed: 3);
        TrainRoot = SyntheticImages.CreateFolder(_temp.Combine("train"), perClass: 30, seed: 11);
        TestRoot = SyntheticImages.CreateFolder(_temp.Combine("test"), perClass: 8, seed: 12);
        Train = ImageFolder.Load(Ml, TrainRoot);
        Test = ImageFolder.Load(Ml, TestRoot);
        Model = PipelineTests.GrayscalePipeline(Ml, new CnnTrainerOptions { Epochs = 2, BatchSize = 16, Seed = 5 }).Fit(Train);
    }

    public MLContext Ml { get; }

    public string TrainRoot { get; }

    public string TestRoot { get; }

    public IDataView Train { get; }

    public IDataView Test { get; }

    public ITransformer Model { get; }

    public string NewPath(string name) => _temp.Combine(Guid.NewGuid().ToString("N") + "-" + name);

    public void Dispose()
    {
        (Model as IDisposable)?.Dispose();
        _temp.Dispose();
    }
}
