using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MlNetCnn.Tests;

/// <summary>
/// Exports a model with ML.NET's converter and scores images with ONNX Runtime directly, for comparison with the
/// library; also runs the ONNX checker of Debian's python3-onnx.
/// </summary>
internal static class OnnxRuntimeScorer
{
    /// <summary>ML.NET's ConvertToOnnx applied to <paramref name="model"/> with <paramref name="data"/>'s schema.</summary>
    public static byte[] Export(MLContext ml, ITransformer model, IDataView data)
    {
        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(model, data, stream);
        return stream.ToArray();
    }

    /// <summary>An N×C×H×W input with the rows' features, as the exported graph declares its image column.</summary>
    public static Dictionary<string, float[]> Score(byte[] model, string inputName, float[] images, long[] shape, params string[] outputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(model, options);
        using var input = OrtValue.CreateTensorValueFromMemory(images, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [input], outputs);
        var scored = new Dictionary<string, float[]>();
        for (int i = 0; i < outputs.Length; i++)
        {
            var value = results[i];
            scored[outputs[i]] = value.GetTensorTypeAndShape().ElementDataType switch
            {
                TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
                TensorElementType.UInt32 => value.GetTensorDataAsSpan<uint>().ToArray().Select(k => (float)k).ToArray(),
                var other => throw new InvalidOperationException($"Output {outputs[i]} is {other}."),
            };
        }
        return scored;
    }

    /// <summary>The columns of the library's own scoring, row after row.</summary>
    public static (float[] Scores, uint[] Labels) LibraryScores(IDataView scored, string labelColumn = "PredictedLabel")
    {
        var scores = new List<float>();
        var labels = new List<uint>();
        var scoreColumn = scored.Schema["Score"];
        var labelCol = scored.Schema[labelColumn];
        using var cursor = scored.GetRowCursor([scoreColumn, labelCol]);
        var getScore = cursor.GetGetter<VBuffer<float>>(scoreColumn);
        var getLabel = cursor.GetGetter<uint>(labelCol);
        VBuffer<float> score = default;
        uint label = 0;
        while (cursor.MoveNext())
        {
            getScore(ref score);
            getLabel(ref label);
            scores.AddRange(score.DenseValues());
            labels.Add(label);
        }
        return (scores.ToArray(), labels.ToArray());
    }

    public static float MaxAbsoluteDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
    }

    /// <summary>Runs onnx.checker.check_model (Debian's python3-onnx) and returns "IR version, opsets" as it reads them.</summary>
    public static string Check(string path)
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            ArgumentList =
            {
                "-c",
                "import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m); " +
                "print('ir', m.ir_version, 'opsets', sorted((o.domain or 'ai.onnx', o.version) for o in m.opset_import))",
                path,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd(), error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"The ONNX checker rejected {path} (is python3-onnx installed? apt-get install python3-onnx):\n{error}");
        return output.Trim();
    }
}
