// A program as an MlNetCnn user writes it, built by ConsumerAppTests in a folder outside the repository (against the
// packages from a local feed, or with a ProjectReference to src/MlNetCnn) and run in a child process:
//   train <images root> <model.zip> <plots folder>   trains, saves, reloads in a fresh MLContext and prints predictions
//   score <model.zip> <images.tsv>                    scoring only: new MLContext -> Model.Load -> PredictionEngine -> Predict
//   torch-first <model.zip> <images.tsv>              the same after a TorchSharp call, before any MlNetCnn code runs
// Predictions go to standard output as "predict <path> <label> <score bits...>".
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MlNetCnn;

if (args.Length < 3)
{
    Console.Error.WriteLine("usage: ConsumerApp train <images root> <model.zip> <plots folder> | score|torch-first <model.zip> <images.tsv>");
    return 2;
}

switch (args[0])
{
    case "train":
        Train(args[1], args[2], args[3]);
        break;
    case "torch-first":
        TorchSharp.torch.set_num_threads(1);
        Score(args[1], args[2]);
        break;
    case "score":
        Score(args[1], args[2]);
        break;
    default:
        Console.Error.WriteLine($"unknown mode {args[0]}");
        return 2;
}
return 0;

static void Train(string imagesRoot, string modelPath, string plotsFolder)
{
    var ml = new MLContext(seed: 1);
    var data = ImageFolder.Load(ml, imagesRoot);
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
        .Append(ml.Transforms.ResizeImages("Image", 28, 28))
        .Append(ml.Transforms.ConvertToGrayscale("Image"))
        .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
        .Append(new CnnTrainer(ml, new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 8, BatchSize = 12, NumberOfThreads = 1 }))
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    var model = pipeline.Fit(data);
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(data));
    Console.WriteLine($"accuracy {metrics.MicroAccuracy.ToString("F4", CultureInfo.InvariantCulture)}");
    ml.Model.Save(model, data.Schema, modelPath);
#if PLOTS
    var cnn = model.OfType<CnnTransformer>().Single();
    MlNetCnn.Visualization.TrainingCurves.SavePng(cnn.TrainingHistory, Path.Combine(plotsFolder, "curves.png"));
#endif
    var images = ImageFolder.List(imagesRoot).Select(r => new Input { ImagePath = r.ImagePath, Label = r.Label }).ToList();
    Predict(new MLContext().Model.Load(modelPath, out _), images);
}

static void Score(string modelPath, string imageList)
{
    var images = File.ReadAllLines(imageList).Select(l => l.Split('\t')).Select(p => new Input { ImagePath = p[0], Label = p[1] }).ToList();
    Predict(new MLContext().Model.Load(modelPath, out _), images);
}

static void Predict(ITransformer model, List<Input> images)
{
    var engine = new MLContext().Model.CreatePredictionEngine<Input, Output>(model);
    foreach (var image in images)
    {
        var output = engine.Predict(image);
        var bits = output.Score.Select(s => BitConverter.SingleToInt32Bits(s).ToString("x8", CultureInfo.InvariantCulture));
        Console.WriteLine($"predict {image.ImagePath} {output.PredictedLabel} {string.Join(" ", bits)}");
    }
}

internal sealed class Input
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

internal sealed class Output
{
    public float[] Score { get; set; } = [];

    public string PredictedLabel { get; set; } = "";
}
