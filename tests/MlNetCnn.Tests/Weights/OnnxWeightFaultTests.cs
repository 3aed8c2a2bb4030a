using System.Runtime.InteropServices;

namespace MlNetCnn.Tests;

/// <summary>
/// Forged <c>.onnx</c> weights (issue 28): paths that are no regular file, graphs whose structure is broken, and
/// non-finite initializers are each an <see cref="InvalidDataException"/> naming the file (and the node or tensor).
/// </summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class OnnxWeightFaultTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void TheValidGraphLoadsEveryWeightInPlace()
    {
        string path = OnnxWeightFiles.Valid().Write(_temp.Combine("valid.onnx"));
        using var weights = PretrainedWeights.FromFile(path);
        using var network = OnnxWeightFiles.Network();
        var report = weights.LoadInto(network, strict: true);
        Assert.Equal(8, report.Loaded.Count);
        Assert.Null(report.ReplacedHead);
        Assert.Equal(OnnxWeightFiles.Values(12, 5), network.state_dict()["fc.weight"].data<float>().ToArray());
        Assert.Equal(OnnxWeightFiles.Values(4, 4), network.state_dict()["bn.running_mean"].data<float>().ToArray());
    }

    [LinuxFact]
    public void ALinkToDevZeroIsRefusedWithoutReadingIt()
    {
        string link = _temp.Combine("zero.onnx");
        File.CreateSymbolicLink(link, "/dev/zero");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(link));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "it read the device");
        Assert.Contains("zero.onnx", error.Message);
        Assert.Contains("not a regular file", error.Message);
    }

    [LinuxFact]
    public void ANamedPipeIsRefusedWithoutWaitingForAWriter()
    {
        string fifo = _temp.Combine("pipe.onnx");
        PosixFiles.CreateFifo(fifo);
        // Opening a pipe for reading waits for a writer: the refusal must come before any open.
        var load = Task.Run(() => PretrainedWeights.FromFile(fifo));
        try
        {
            Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(20))).Wait();
            Assert.True(load.IsCompleted, "reading the pipe hangs");
        }
        finally
        {
            // A reader still waiting is released by a writer that opens and closes the pipe.
            if (!load.IsCompleted)
                File.OpenWrite(fifo).Dispose();
        }
        var error = Assert.IsType<InvalidDataException>(load.Exception?.InnerException);
        Assert.Contains("pipe.onnx", error.Message);
        Assert.Contains("not a regular file", error.Message);
    }

    [LinuxFact]
    public void AFileThatHoldsMoreThanItsSizeIsRefused()
    {
        // /proc files report 0 bytes and then read many: neither what the size says nor what was read can be trusted.
        string link = _temp.Combine("status.onnx");
        File.CreateSymbolicLink(link, "/proc/self/status");
        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(link));
        Assert.Contains("status.onnx", error.Message);
    }

    public static TheoryData<string, string, string> StructuralFaults() => new()
    {
        { "conv-without-outputs", "Conv node 'conv'", "no output" },
        { "batch-norm-without-inputs", "BatchNormalization node 'bn'", "5 inputs" },
        { "batch-norm-with-three-inputs", "BatchNormalization node 'bn'", "5 inputs" },
        { "add-of-two-constants", "Add node 'add'", "two constants" },
        { "add-of-one-input", "Add node 'add'", "2 inputs" },
        { "gemm-without-inputs", "Gemm node 'fc'", "inputs" },
        { "node-without-operator", "node 'nameless'", "no operator" },
        { "batch-norm-of-another-width", "BatchNormalization node 'bn'", "[4]" },
        { "conv-bias-of-another-width", "Conv node 'conv'", "[4]" },
        { "duplicate-initializer", "conv.bias", "twice" },
    };

    [Theory]
    [MemberData(nameof(StructuralFaults))]
    public void AStructuralFaultNamesTheFileAndTheNode(string fault, string node, string expected)
    {
        string path = Forge(fault).Write(_temp.Combine(fault + ".onnx"));
        var error = Record.Exception(() =>
        {
            using var weights = PretrainedWeights.FromFile(path);
            using var network = OnnxWeightFiles.Network();
            weights.LoadInto(network);
        });
        var invalid = Assert.IsType<InvalidDataException>(error);
        Assert.Contains(fault + ".onnx", invalid.Message);
        Assert.Contains(node, invalid.Message);
        Assert.Contains(expected, invalid.Message);
    }

    private static OnnxWeightFiles Forge(string fault)
    {
        var graph = fault switch
        {
            "batch-norm-of-another-width" =>
                OnnxWeightFiles.WithWeights((name, v) => name.StartsWith("bn.", StringComparison.Ordinal) ? [.. v, 1]
                    : null),
            "conv-bias-of-another-width" => OnnxWeightFiles.WithWeights((name, v) => name == "conv.bias" ? v[..3] : null),
            "duplicate-initializer" => OnnxWeightFiles.WithWeights().Initializer("conv.bias", [4], OnnxWeightFiles.Values(4)),
            _ => OnnxWeightFiles.WithWeights(),
        };
        string[] convOutputs = fault == "conv-without-outputs" ? [] : ["c"];
        string[] normInputs = fault switch
        {
            "batch-norm-without-inputs" => [],
            "batch-norm-with-three-inputs" => ["c", "bn.weight", "bn.bias"],
            _ => ["c", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
        };
        graph.Node("Conv", "conv", ["input", "conv.weight", "conv.bias"], convOutputs)
            .Node("BatchNormalization", "bn", normInputs, ["b"])
            .Node(fault == "node-without-operator" ? "" : "Relu", "nameless", ["b"], ["r"])
            .Node("GlobalAveragePool", "pool", ["r"], ["p"])
            .Node("Flatten", "flatten", ["p"], ["f"]);
        return fault switch
        {
            "add-of-two-constants" => graph.Node("MatMul", "fc", ["f", "fc.weight"], ["m"]).Node("Add", "add", ["fc.bias", "conv.bias"], ["output"]),
            "add-of-one-input" => graph.Node("MatMul", "fc", ["f", "fc.weight"], ["m"]).Node("Add", "add", ["fc.bias"], ["output"]),
            "gemm-without-inputs" => graph.Node("Gemm", "fc", [], ["output"]),
            _ => graph.Node("Gemm", "fc", ["f", "fc.weight", "fc.bias"], ["output"], transB: 1),
        };
    }

    [Theory]
    [InlineData("conv.weight", float.NaN)]
    [InlineData("bn.running_var", float.PositiveInfinity)]
    [InlineData("fc.bias", float.NegativeInfinity)]
    public void ANonFiniteInitializerIsRefusedAtLoadNamingIt(string tensor, float value)
    {
        string path = OnnxWeightFiles.Valid((name, v) => name == tensor ? [.. v[..^1], value] : null).Write(_temp.Combine("nan.onnx"));
        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path));
        Assert.Contains("nan.onnx", error.Message);
        Assert.Contains($"'{tensor}'", error.Message);
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }
}

internal static partial class PosixFiles
{
    public static void CreateFifo(string path)
    {
        if (MakeFifo(path, Convert.ToUInt32("600", 8)) != 0)
            throw new IOException($"mkfifo({path}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MakeFifo(string path, uint mode);
}
