using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using MlNetCnn.Persistence;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Forged weight files by the thousand (<see cref="WeightFileMutator"/>: mutations of a small valid <c>.pt</c> and
/// <c>.safetensors</c>) through <see cref="PretrainedWeights.FromFile"/> and <see cref="PretrainedWeights.LoadInto"/>.
/// The contract for each: it loads, its tensors no larger than a small multiple of the file, or it fails with an
/// <see cref="InvalidDataException"/> naming the file (an <see cref="ArgumentException"/> naming it from LoadInto
/// when shapes differ); no other exception, no call allocating more than a small multiple of the file, none hanging.
/// The suite runs each format for 2 seconds from a fixed seed. A longer run, by hand:
/// <c>MLNETCNN_FUZZ_SECONDS=600 MLNETCNN_FUZZ_SEED=7 dotnet test tests/MlNetCnn.Tests -c Release --filter
/// FullyQualifiedName~WeightFileFuzz</c> (seconds per format; the seed defaults to 1). A file that breaks the contract
/// is kept in the temp folder's <c>mlnetcnn-fuzz-failures/</c> and named in the failure with the mutation and seed.
/// </summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class WeightFileFuzzTests(ITestOutputHelper output) : IDisposable
{
    // Managed bytes one load may allocate: parsing costs a few times the file, plus fixed costs (zip, JSON, pickle)
    // and what an entry a mutation marked deflated really decodes to (at most 300 KB in 950,000 files).
    private const long AllocationPerFileByte = 16, AllocationConstant = 4 << 20;

    // Tensor bytes one load may produce: a storage may back a few views (tied weights), nothing more.
    private const long TensorBytesPerFileByte = 4, TensorBytesConstant = 1 << 20;

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    static WeightFileFuzzTests() => MlNetCnn.Platform.TorchRuntime.EnsureInitialized();

    private static double Seconds => double.TryParse(Environment.GetEnvironmentVariable("MLNETCNN_FUZZ_SECONDS"),
        NumberStyles.Float, CultureInfo.InvariantCulture, out double s) ? s : 2;

    private static int Seed
        => int.TryParse(Environment.GetEnvironmentVariable("MLNETCNN_FUZZ_SEED"), out int s) ? s : 1;

    /// <summary>A network with a convolution, a batch norm (an int64 scalar among its buffers) and a linear head.</summary>
    private static nn.Module<Tensor, Tensor> SmallNetwork() => nn.Sequential(
        ("conv", nn.Conv2d(1, 2, 3)), ("bn", nn.BatchNorm2d(2)), ("flatten", nn.Flatten()), ("fc", nn.Linear(8, 3)));

    [Fact]
    public void ForgedPyTorchFilesLoadOrAreRefusedNamingTheFile()
    {
        using var network = SmallNetwork();
        var tensors = network.state_dict().Select(p => (p.Key, p.Value)).ToList();
        string good = _temp.Combine("good.pt");
        PyTorchStateDictFile.Write(good, tensors);
        byte[] file = File.ReadAllBytes(good);
        using var archive = new ZipArchive(new MemoryStream(file));
        byte[] Entry(string entry)
        {
            using var stream = archive.GetEntry("archive/" + entry)!.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
        byte[] pickle = Entry("data.pkl");
        var storages = tensors.Select((_, i) => Entry("data/" + i.ToString(CultureInfo.InvariantCulture))).ToList();
        var mutator = new WeightFileMutator(new Random(Seed));

        Fuzz(network, "forged.pt", file, () => mutator.PyTorch(file, pickle, storages));
    }

    [Fact]
    public void ForgedSafeTensorsFilesLoadOrAreRefusedNamingTheFile()
    {
        using var network = SmallNetwork();
        string good = _temp.Combine("good.safetensors");
        SafeTensorsFile.Write(good, network.state_dict().Select(p => (p.Key, p.Value)));
        byte[] file = File.ReadAllBytes(good);
        var mutator = new WeightFileMutator(new Random(Seed));

        Fuzz(network, "forged.safetensors", file, () => mutator.SafeTensors(file));
    }

    private void Fuzz(nn.Module network, string name, byte[] original, Func<(byte[] Bytes, string Description)> forge)
    {
        string path = _temp.Combine(name);
        File.WriteAllBytes(path, original);
        Assert.Equal("loaded", Attempt(network, path, original.Length)); // the unforged file, which also warms up

        var outcomes = new Dictionary<string, int>();
        var clock = Stopwatch.StartNew();
        int iterations = 0;
        for (; clock.Elapsed.TotalSeconds < Seconds; iterations++)
        {
            var (bytes, description) = forge();
            File.WriteAllBytes(path, bytes);
            string outcome;
            try
            {
                var attempt = Task.Run(() => Attempt(network, path, bytes.Length));
                if (!attempt.Wait(TimeSpan.FromSeconds(30)))
                    throw new TimeoutException("the load did not end within 30 s");
                outcome = attempt.Result;
            }
            catch (Exception e)
            {
                var error = e is AggregateException { InnerException: { } inner } ? inner : e;
                string kept = Keep(name, iterations, bytes);
                Assert.Fail($"Iteration {iterations} (seed {Seed}, {description}) broke the contract; "
                    + $"the file is kept as '{kept}':{Environment.NewLine}{error}");
                return;
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        output.WriteLine($"{name}: {iterations} forged files in {clock.Elapsed.TotalSeconds:F1} s "
            + $"({iterations / clock.Elapsed.TotalSeconds:F0}/s, seed {Seed}): "
            + string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Value} {o.Key}")));
        Assert.True(iterations > 0);
    }

    /// <summary>
    /// Reads <paramref name="path"/> as the parser does (measuring what that allocates) and then through the public API
    /// into <paramref name="network"/>; the outcome, or throws where the contract breaks.
    /// </summary>
    private static string Attempt(nn.Module network, string path, long fileBytes)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = path.EndsWith(".pt", StringComparison.Ordinal)
                ? PyTorchStateDictFile.Read(path)
                : SafeTensorsFile.Read(path);
        }
        catch (InvalidDataException e) when (e.Message.Contains(path, StringComparison.Ordinal))
        {
            CheckAllocation(before, fileBytes);
            return "refused";
        }
        CheckAllocation(before, fileBytes);
        long tensorBytes = tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize);
        foreach (var tensor in tensors.Values)
            tensor.Dispose();
        if (tensorBytes > TensorBytesPerFileByte * fileBytes + TensorBytesConstant)
            throw new InvalidOperationException($"{fileBytes} bytes loaded as {tensorBytes} bytes of tensors");

        PretrainedWeights weights;
        try
        {
            weights = PretrainedWeights.FromFile(path);
        }
        catch (InvalidDataException e) when (e.Message.Contains(path, StringComparison.Ordinal))
        {
            return "refused by FromFile"; // parsed, but a value is not finite
        }
        using (weights)
        {
            try
            {
                weights.LoadInto(network, strict: false);
                return "loaded";
            }
            catch (ArgumentException e) when (e.Message.Contains(path, StringComparison.Ordinal))
            {
                return "refused by LoadInto";
            }
        }
    }

    private static void CheckAllocation(long before, long fileBytes)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationPerFileByte * fileBytes + AllocationConstant)
            throw new InvalidOperationException($"{allocated} bytes allocated for a {fileBytes}-byte file");
    }

    private static string Keep(string name, int iteration, byte[] bytes)
    {
        string folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-fuzz-failures");
        Directory.CreateDirectory(folder);
        string kept = Path.Combine(folder, $"{Seed}-{iteration}-{name}");
        File.WriteAllBytes(kept, bytes);
        return kept;
    }
}
