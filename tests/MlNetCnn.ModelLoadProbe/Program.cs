// Loads a saved pipeline in a fresh process with a fresh MLContext (no MlNetCnn call before Model.Load), scores the
// images listed in a text file (path<TAB>label per line) and writes, per image, the predicted label and the Score
// values as exact hexadecimal bit patterns, so the test can compare bit for bit.
// With the single argument "kernel-check" it prints the kernel check's verdict and whether oneDNN is in use, as a fresh
// application sees them (KernelCheckTests).
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Platform;

if (args is ["kernel-check"])
{
    var check = TorchRuntime.KernelCheck;
    Console.WriteLine($"outcome {check.Outcome}");
    Console.WriteLine($"oneDNN {TorchRuntime.UseOneDnn}");
    Console.WriteLine($"source {check.Source}");
    foreach (var disagreement in check.Disagreements)
        Console.WriteLine($"disagreement {disagreement}");
    Console.WriteLine(check);
    return 0;
}

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: MlNetCnn.ModelLoadProbe <model.zip> <images.tsv> <output.txt>");
    return 2;
}

var ml = new MLContext();
var model = ml.Model.Load(args[0], out _);
var rows = File.ReadAllLines(args[1]).Select(l => l.Split('\t')).Select(p => new ProbeInput { ImagePath = p[0], Label = p[1] }).ToList();
var chainTypes = model is TransformerChain<ITransformer> chain ? string.Join(",", chain.Select(t => t.GetType().Name)) : model.GetType().Name;

var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
var output = new List<string> { "chain " + chainTypes };
foreach (var prediction in ml.Data.CreateEnumerable<ProbeOutput>(scored, reuseRowObject: false))
    output.Add(prediction.PredictedLabel + " "
        + string.Join(" ",
            prediction.Score.Select(s => BitConverter.SingleToInt32Bits(s)
                .ToString("x8", CultureInfo.InvariantCulture))));

var engine = ml.Model.CreatePredictionEngine<ProbeInput, ProbeOutput>(model);
output.Add("engine " + engine.Predict(rows[0]).PredictedLabel);
File.WriteAllLines(args[2], output);
return 0;

internal sealed class ProbeInput
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

internal sealed class ProbeOutput
{
    public float[] Score { get; set; } = [];

    public string PredictedLabel { get; set; } = "";
}
