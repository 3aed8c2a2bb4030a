using System.Diagnostics;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Forged <c>.onnx</c> weights from a fixed seed, for a few seconds: each is refused with an
/// <see cref="InvalidDataException"/> (or, when it parses but does not fit the network, an
/// <see cref="ArgumentException"/>) naming the file, or loads finite weights; never another exception, and never
/// more managed allocation than a small multiple of the file's size. The forgeries are byte mutations of the valid
/// graph (flips, truncations, cut or repeated ranges, long varints) and graphs assembled from random parts.
/// </summary>
/// <remarks>
/// A longer run: <c>MLNETCNN_FUZZ_SECONDS=600 MLNETCNN_FUZZ_SEED=7 dotnet test tests/MlNetCnn.Tests
/// --filter FullyQualifiedName~OnnxFuzzTests</c>. A failure names the seed and iteration, which regenerate the file
/// alone (<see cref="Forge"/>), and keeps it in the temp folder.
/// </remarks>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class OnnxFuzzTests(ITestOutputHelper output) : IDisposable
{
    // The reader keeps lists of a file's dims, names and attribute values: tens of bytes per byte at worst.
    private const long AllocationPerFileByte = 64;
    private const long AllocationConstant = 1 << 20;

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void ForgedOnnxFilesGiveAClearErrorOrAFiniteLoad()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("MLNETCNN_FUZZ_SECONDS"), out double s) ? s : 3;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("MLNETCNN_FUZZ_SEED"), out int given) ? given : 28;
        byte[] valid = OnnxWeightFiles.Valid().ToArray();
        string path = _temp.Combine("forged.onnx");
        var outcomes = new Dictionary<string, int>();
        (long Bytes, int FileBytes) most = (0, 0);
        var clock = Stopwatch.StartNew();
        int iteration = 0;
        for (; clock.Elapsed.TotalSeconds < seconds; iteration++)
        {
            byte[] forged = Forge(valid, seed, iteration);
            File.WriteAllBytes(path, forged);
            string outcome;
            try
            {
                (outcome, long allocated) = Check(path, forged.Length);
                if (allocated > most.Bytes)
                    most = (allocated, forged.Length);
            }
            catch (Exception e)
            {
                string kept = Path.Combine(Path.GetTempPath(), $"mlnetcnn-onnx-fuzz-{seed}-{iteration}.onnx");
                File.WriteAllBytes(kept, forged);
                throw new Xunit.Sdk.XunitException($"seed {seed}, iteration {iteration} (kept as '{kept}'): {e}");
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        output.WriteLine($"{iteration} forged files in {clock.Elapsed.TotalSeconds:F1} s ({iteration / clock.Elapsed.TotalSeconds:F0}/s): "
            + string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}"))
            + $"; most managed allocation {most.Bytes:N0} bytes, for a file of {most.FileBytes:N0}");
        Assert.True(outcomes.GetValueOrDefault("loaded") > 0, "no forgery loaded: the mutations are too coarse");
        Assert.True(outcomes.Count > 3, "the forgeries reach too few outcomes");
    }

    /// <summary>Loads the file onto the network; returns the outcome and the bytes allocated, or throws when the contract is broken.</summary>
    private static (string Outcome, long Allocated) Check(string path, long length)
    {
        string name = Path.GetFileName(path);
        using var network = OnnxWeightFiles.Network();
        long before = GC.GetAllocatedBytesForCurrentThread();
        string outcome;
        try
        {
            using var weights = PretrainedWeights.FromFile(path);
            var report = weights.LoadInto(network);
            Assert.NotEmpty(report.Loaded);
            outcome = "loaded";
        }
        catch (InvalidDataException e) when (e.GetType() == typeof(InvalidDataException))
        {
            Assert.Contains(name, e.Message);
            outcome = e.Message.Contains(" node ", StringComparison.Ordinal) ? "invalid node" : "invalid data";
        }
        catch (ArgumentException e) when (e.GetType() == typeof(ArgumentException))
        {
            Assert.Contains(name, e.Message);
            outcome = "does not fit";
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= AllocationPerFileByte * length + AllocationConstant, $"{allocated:N0} bytes allocated for a file of {length:N0}");
        foreach (var (key, tensor) in network.state_dict())
            Assert.True(!tensor.is_floating_point() || isfinite(tensor).all().item<bool>(), $"{key} is not finite after loading");
        return (outcome, allocated);
    }

    /// <summary>The forged file of <paramref name="iteration"/> under <paramref name="seed"/>: the same bytes every time.</summary>
    internal static byte[] Forge(byte[] valid, int seed, int iteration)
    {
        var random = new Random(HashCode.Combine(seed, iteration));
        byte[] start = random.Next(3) == 0 ? Assemble(random) : valid;
        int mutations = random.Next(4);
        for (int i = 0; i < mutations; i++)
            start = Mutate(start, random);
        return start;
    }

    private static byte[] Mutate(byte[] bytes, Random random)
    {
        if (bytes.Length == 0)
            return [(byte)random.Next(256)];
        int at = random.Next(bytes.Length);
        int span = Math.Min(bytes.Length - at, 1 + random.Next(random.Next(2) == 0 ? 8 : 200));
        switch (random.Next(7))
        {
            case 0:
                var flipped = (byte[])bytes.Clone();
                flipped[at] ^= (byte)(1 << random.Next(8));
                return flipped;
            case 1:
                var boundary = (byte[])bytes.Clone();
                boundary[at] = (byte)(random.Next(4) switch { 0 => 0x00, 1 => 0x7F, 2 => 0x80, _ => 0xFF });
                return boundary;
            case 2:
                return bytes[..at];
            case 3:
                return [.. bytes[..at], .. bytes[(at + span)..]];
            case 4:
                return [.. bytes[..at], .. bytes.AsSpan(at, span), .. bytes[at..]];
            case 5:
                // A long varint where a length or a dimension may stand: 2^31, 2^62 or -1.
                byte[] varint = random.Next(3) switch
                {
                    0 => [0x80, 0x80, 0x80, 0x80, 0x08],
                    1 => [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
                    _ => [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
                };
                return [.. bytes[..at], .. varint, .. bytes[Math.Min(bytes.Length, at + 1)..]];
            default:
                var noise = (byte[])bytes.Clone();
                random.NextBytes(noise.AsSpan(at, span));
                return noise;
        }
    }

    private static readonly string[] s_operators =
        ["Conv", "BatchNormalization", "Gemm", "MatMul", "Add", "Relu", "Flatten", "GlobalAveragePool", "Sub", ""];

    private static readonly string[] s_values = ["input", "c", "b", "r", "p", "f", "output", ""];

    private static readonly string[] s_weights =
        ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias"];

    /// <summary>A graph of random nodes over random initializers: plausible names, shapes near the network's.</summary>
    private static byte[] Assemble(Random random)
    {
        var graph = random.Next(2) == 0 ? OnnxWeightFiles.WithWeights() : new OnnxWeightFiles();
        long[] dims = [0, 1, 3, 4, 12, 36, 1L << 31, -1];
        for (int i = random.Next(4); i > 0; i--)
        {
            long[] shape = [.. Enumerable.Range(0, random.Next(5)).Select(_ => dims[random.Next(dims.Length)])];
            long count = shape.Aggregate(1L, (a, d) => d is >= 0 and < 100 ? a * d : a);
            float[] values = [.. Enumerable.Range(0, (int)Math.Min(count, 100) + random.Next(2))
                .Select(_ => random.Next(20) == 0 ? float.NaN : random.NextSingle())];
            graph.Initializer(s_weights[random.Next(s_weights.Length)], shape, values, random.Next(4) == 0 ? 7 : 1);
        }
        for (int i = random.Next(9); i > 0; i--)
        {
            string[] Names(int most) => [.. Enumerable.Range(0, random.Next(most + 1))
                .Select(_ => random.Next(2) == 0 ? s_values[random.Next(s_values.Length)] : s_weights[random.Next(s_weights.Length)])];
            graph.Node(s_operators[random.Next(s_operators.Length)], "n" + i, Names(5), Names(2), random.Next(3) == 0 ? random.Next(2) : null);
        }
        return graph.ToArray();
    }
}
