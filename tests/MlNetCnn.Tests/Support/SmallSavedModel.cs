using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// The bytes of one small saved pipeline (LeNet-5 on 60 synthetic 1×16×16 images, classes c0..c2, one epoch), trained
/// once per test run for the tests that damage, forge or reload a model file.
/// </summary>
internal static class SmallSavedModel
{
    private static readonly Lazy<byte[]> s_bytes = new(() =>
    {
        using var temp = new TempFolder();
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(60, 3, 1));
        using var model = new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 2, NumberOfThreads = 1 }).Fit(data);
        string path = temp.Combine("model.zip");
        ml.Model.SaveAtomically(model, data.Schema, path);
        return File.ReadAllBytes(path);
    });

    public static byte[] Bytes => s_bytes.Value;
}
