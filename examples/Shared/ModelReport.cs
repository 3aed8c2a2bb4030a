using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Visualization;

namespace MlNetCnn.Examples;

/// <summary>What every example does after training: ML.NET's evaluation, the saved model and the plots next to it.</summary>
internal static class ModelReport
{
    /// <summary>
    /// Evaluates <paramref name="model"/> on <paramref name="test"/> with ML.NET's multiclass evaluator and prints the
    /// figures; saves the model to <c>model.zip</c> and writes training curves, the confusion matrix and a grid of
    /// predictions (images from <paramref name="imageColumnName"/>) as PNG files in <paramref name="outputFolder"/>.
    /// </summary>
    public static MulticlassClassificationMetrics EvaluateAndSave(MLContext ml, ITransformer model, DataViewSchema inputSchema, IDataView test,
        string outputFolder, string testName = "Test", string imageColumnName = "Features")
    {
        var scored = model.Transform(test);
        var metrics = ml.MulticlassClassification.Evaluate(scored);
        Console.WriteLine();
        Console.WriteLine($"{testName} micro accuracy: {metrics.MicroAccuracy:F4}");
        Console.WriteLine($"{testName} macro accuracy: {metrics.MacroAccuracy:F4}");
        Console.WriteLine($"{testName} log-loss:       {metrics.LogLoss:F4}");
        Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

        Directory.CreateDirectory(outputFolder);
        string modelPath = Path.GetFullPath(Path.Combine(outputFolder, "model.zip"));
        ml.Model.SaveAtomically(model, inputSchema, modelPath);
        Console.WriteLine($"Saved the model to {modelPath}");
        var cnn = model.GetCnnTransformer();
        string curves = Path.Combine(outputFolder, "training-curves.png"), confusion = Path.Combine(outputFolder, "confusion-matrix.png"),
            samples = Path.Combine(outputFolder, "predictions.png");
        TrainingCurves.SavePng(cnn.TrainingHistory, curves);
        ConfusionMatrixPlot.SavePng(metrics.ConfusionMatrix, confusion, cnn.ClassNames);
        SampleGrid.SavePng(SampleGrid.FromScoredData(scored, count: 32, featureColumnName: imageColumnName), samples);
        Console.WriteLine($"Plots: {curves}, {confusion}, {samples}");
        return metrics;
    }
}
