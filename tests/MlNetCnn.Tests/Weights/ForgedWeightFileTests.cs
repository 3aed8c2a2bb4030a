using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;
using Storage = MlNetCnn.Persistence.PyTorchStateDictFile.Storage;
using TensorReference = MlNetCnn.Persistence.PyTorchStateDictFile.TensorReference;

namespace MlNetCnn.Tests;

/// <summary>
/// Weight files forged to make the reader allocate, read or materialize more than the file holds, or to be read two
/// ways (duplicate entries and names, one storage of two types): each is refused with an
/// <see cref="InvalidDataException"/> naming the file and what is wrong, before anything of the forged size exists,
/// while the views PyTorch itself writes (transposed, sliced, shared) still load.
/// </summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed partial class ForgedWeightFileTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    static ForgedWeightFileTests() => MlNetCnn.Platform.TorchRuntime.EnsureInitialized();

    /// <summary>A state_dict file of <paramref name="pickle"/> and the storages (entry data/i holds storages[i]).</summary>
    internal static void WritePyTorch(string path, byte[] pickle, IReadOnlyList<byte[]> storages)
    {
        using var file = File.Create(path);
        PyTorchStateDictFile.WriteArchive(file, pickle, storages.Count, (i, entry) => entry.Write(storages[i]));
    }

    private string PyTorchFile(string name, IReadOnlyList<byte[]> storages, params (string, TensorReference)[] views)
    {
        string path = _temp.Combine(name);
        WritePyTorch(path, PyTorchStateDictFile.StateDictPickle(views), storages);
        return path;
    }

    /// <summary>The bytes of the floats 0, 1, ..., count - 1.</summary>
    private static byte[] Floats(int count)
        => MemoryMarshal.AsBytes(Enumerable.Range(0, count).Select(i => (float)i).ToArray().AsSpan()).ToArray();

    /// <summary>A view of storage <paramref name="key"/>, which holds <paramref name="count"/> elements.</summary>
    private static TensorReference View(ScalarType type, long count, long offset, long[] shape, long[] stride, string key = "0")
        => new(new Storage(type, key, count), offset, shape, stride);

    private static void Refused(string path, params string[] expected) => RefusedWithin(long.MaxValue, path, expected);

    /// <summary>Checks that <paramref name="path"/> is refused, allocating less than <paramref name="bound"/> bytes.</summary>
    private static void RefusedWithin(long bound, string path, params string[] expected)
    {
        // Once unmeasured, so that compiling and first-use costs are not counted.
        Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path).Dispose());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => PretrainedWeights.FromFile(path).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < bound,
            $"{allocated} bytes allocated to refuse a {new FileInfo(path).Length}-byte file ({error.Message})");
        Assert.Contains(Path.GetFileName(path), error.Message);
        foreach (string part in expected)
            Assert.Contains(part, error.Message);
    }

    [Fact]
    public void AZipEntryDeclaringMoreThanTheFileHoldsIsRefusedBeforeAllocating()
    {
        string path = PyTorchFile("huge-pickle.pt", [Floats(4)], ("w", View(ScalarType.Float32, 4, 0, [4], [1])));
        byte[] zip = File.ReadAllBytes(path);
        // Both sizes forged alike: a stored entry of 2 GB in a file of a few hundred bytes.
        ZipHeaderEditor.SetSizes(zip, "archive/data.pkl", 2_000_000_000, 2_000_000_000);
        File.WriteAllBytes(path, zip);

        RefusedWithin(16_000_000, path, "archive/data.pkl", "2000000000");
    }

    [Fact]
    public void ADeflatedEntryShorterThanItDeclaresIsCaughtWhileReadingInBoundedChunks()
    {
        // 256 KB that deflate cannot shrink, declared as 200 MB: within deflate's 1,032:1, so only reading finds it.
        string path = _temp.Combine("deflate-lie.pt");
        var noise = new byte[256 * 1024];
        new Random(3).NextBytes(noise);
        using (var archive = ZipFile.Open(path, ZipArchiveMode.Create))
        using (var entry = archive.CreateEntry("archive/data.pkl", CompressionLevel.Optimal).Open())
            entry.Write(noise);
        byte[] zip = File.ReadAllBytes(path);
        ZipHeaderEditor.SetSizes(zip, "archive/data.pkl", compressed: null, uncompressed: 200_000_000);
        File.WriteAllBytes(path, zip);

        RefusedWithin(16_000_000, path, "archive/data.pkl");
    }

    [Fact]
    public void ADuplicateZipEntryIsRefused()
    {
        string path = _temp.Combine("duplicate-entry.pt");
        byte[] pickle = PyTorchStateDictFile.StateDictPickle([("w", View(ScalarType.Float32, 4, 0, [4], [1]))]);
        using (var file = File.Create(path))
        {
            PyTorchStateDictFile.WriteArchive(file, pickle, 1, (_, entry) => entry.Write(Floats(4)));
            using var archive = new ZipArchive(file, ZipArchiveMode.Update);
            // A second data/0 that a reader taking the last copy would load instead.
            using var second = archive.CreateEntry("archive/data/0", CompressionLevel.NoCompression).Open();
            second.Write(new byte[16]);
        }

        Refused(path, "archive/data/0", "twice");
    }

    [LinuxFact]
    public void ALinkToADeviceIsRefusedAsNotARegularFile()
    {
        foreach (string name in new[] { "zero.pt", "zero.safetensors" })
        {
            string link = _temp.Combine(name);
            File.CreateSymbolicLink(link, "/dev/zero");
            Refused(link, "not a regular file");
        }
    }

    [LinuxFact]
    public void ANamedPipeIsRefusedWithoutWaitingForAWriter()
    {
        string pipe = _temp.Combine("pipe.safetensors");
        Assert.Equal(0, MakeFifo(pipe, 0b110_000_000));
        var load = Task.Run(() => Refused(pipe, "not a regular file"));
        if (!load.Wait(TimeSpan.FromSeconds(20)))
        {
            // Opening a pipe blocks until a writer comes: be that writer, so the test ends.
            using (new FileStream(pipe, FileMode.Open, FileAccess.Write))
            {
            }
            Assert.Fail("Reading a named pipe waited for a writer.");
        }
        load.GetAwaiter().GetResult();
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, int mode);

    public static TheoryData<string, string> ForgedViews =>
    new()
    {
        { "stride 0", "stride 0" },
        { "overlapping strides", "overlap" },
        { "rank 1000", "1000 dimensions" },
        { "one storage as two types", "storage '0'" },
        { "one storage viewed 64 times", "times" },
    };

    [Theory]
    [MemberData(nameof(ForgedViews))]
    public void AViewMaterializingMoreThanItsStorageIsRefused(string forgery, string expected)
    {
        var float32 = ScalarType.Float32;
        long[] ones1000 = Enumerable.Repeat(1L, 1000).ToArray();
        string path = forgery switch
        {
            // One float repeated 2^20 times: 4 bytes in the file, 4 MB once materialized.
            "stride 0" => PyTorchFile("stride0.pt", [Floats(1)], ("w", View(float32, 1, 0, [1 << 20], [0]))),
            // 1024 × 1024 elements over 2,047: every read is in bounds, the rows overlap.
            "overlapping strides" => PyTorchFile("overlap.pt", [Floats(2047)],
                ("w", View(float32, 2047, 0, [1024, 1024], [1, 1]))),
            "rank 1000" => PyTorchFile("rank.pt", [Floats(1)], ("w", View(float32, 1, 0, [.. ones1000], [.. ones1000]))),
            "one storage as two types" => PyTorchFile("two-types.pt", [Floats(4)],
                ("a", View(float32, 4, 0, [4], [1])), ("b", View(ScalarType.Float64, 2, 0, [2], [1]))),
            // 64 tensors over the same 64 KB: each in bounds, together 4 MB from a 64 KB file.
            _ => PyTorchFile("shared.pt", [Floats(16384)],
                Enumerable.Range(0, 64).Select(i => ($"w{i}", View(float32, 16384, 0, [16384], [1]))).ToArray()),
        };

        Refused(path, expected);
    }

    [Fact]
    public void TheViewsPyTorchWritesLoadWithTheirValues()
    {
        var float32 = ScalarType.Float32;
        string path = PyTorchFile("views.pt", [Floats(8), Floats(6)],
            ("sliced", View(float32, 8, 2, [3], [2])), // elements 2, 4, 6
            ("transposed", View(float32, 6, 0, [3, 2], [1, 3], key: "1")), // a 2×3 matrix transposed
            ("tied", View(float32, 6, 0, [2, 3], [3, 1], key: "1")), // the same storage again (tied weights)
            ("scalar", View(float32, 8, 7, [], [])),
            ("empty", View(float32, 8, 8, [0, 4], [4, 1])),
            ("expanded row", View(float32, 8, 0, [1, 8], [0, 1]))); // stride 0 on a dimension of size 1

        var tensors = PyTorchStateDictFile.Read(path);
        try
        {
            float[] Values(string name) => tensors[name].data<float>().ToArray();
            Assert.Equal([2f, 4f, 6f], Values("sliced"));
            Assert.Equal([0f, 3f, 1f, 4f, 2f, 5f], Values("transposed"));
            Assert.Equal([0f, 1f, 2f, 3f, 4f, 5f], Values("tied"));
            Assert.Equal([7f], Values("scalar"));
            Assert.Equal([0L, 4L], tensors["empty"].shape);
            Assert.Equal(Enumerable.Range(0, 8).Select(i => (float)i), Values("expanded row"));
        }
        finally
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
        }
    }

    [Fact]
    public void APickleLeavingItemsOnTheStackIsRefused()
    {
        // PROTO 2, 1, {} , STOP: the dict is returned with the 1 still below it.
        string path = _temp.Combine("leftover.pt");
        WritePyTorch(path, [0x80, 0x02, (byte)'K', 1, (byte)'}', (byte)'.'], []);

        Refused(path, "STOP");
    }

    [Fact]
    public void AnOddNumberOfItemsForSetItemsIsRefused()
    {
        // {} ( 'a' 'b' 'c' SETITEMS: a key without its value.
        byte[] Text(string s) => [(byte)'X', .. BitConverter.GetBytes(s.Length), .. Encoding.ASCII.GetBytes(s)];
        string path = _temp.Combine("odd.pt");
        WritePyTorch(path, [0x80, 0x02, (byte)'}', (byte)'(', .. Text("a"), .. Text("b"), .. Text("c"), (byte)'u', (byte)'.'],
            []);

        Refused(path, "odd");
    }

    [Fact]
    public void ANoneDictionaryKeyIsRefused()
    {
        string path = _temp.Combine("none-key.pt");
        WritePyTorch(path, [0x80, 0x02, (byte)'}', (byte)'N', (byte)'N', (byte)'s', (byte)'.'], []);

        Refused(path, "None");
    }

    private string SafeTensors(string name, string header, int dataBytes)
    {
        string path = _temp.Combine(name);
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Entry(string name, int begin, int end, string shape = "[4]")
        => $"\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    // Ranges that overlap, leave gaps or bytes over (the format says they tile the data), a name twice, a rank of 65.
    public static TheoryData<string, string, int, string> ForgedSafeTensors =>
    new()
    {
        { "overlap", $"{{{Entry("a", 0, 16)},{Entry("b", 0, 16)}}}", 16, "overlap" },
        { "gap", $"{{{Entry("a", 0, 16)},{Entry("b", 32, 48)}}}", 48, "bytes 16 to 32" },
        { "trailing bytes", $"{{{Entry("a", 0, 16)}}}", 20, "bytes 16 to 20" },
        { "late start", $"{{{Entry("a", 4, 20)}}}", 20, "bytes 0 to 4" },
        { "duplicate name", $"{{{Entry("a", 0, 16)},{Entry("a", 16, 32)}}}", 32, "'a' twice" },
        { "rank 65", $"{{{Entry("a", 0, 4, $"[{string.Join(",", Enumerable.Repeat(1, 65))}]")}}}", 4, "65 dimensions" },
    };

    [Theory]
    [MemberData(nameof(ForgedSafeTensors))]
    public void ForgedSafeTensorsHeadersAreRefused(string forgery, string header, int dataBytes, string expected)
        => Refused(SafeTensors(forgery.Replace(' ', '-') + ".safetensors", header, dataBytes), expected);

    [Fact]
    public void SafeTensorsRangesMayBeListedInAnyOrderAndBeEmpty()
    {
        string path = SafeTensors("unordered.safetensors",
            $"{{{Entry("b", 16, 32)},{Entry("empty", 16, 16, "[0]")},{Entry("a", 0, 16)},"
            + $"{Entry("last", 32, 32, "[2,0]")}}}", 32);

        using var weights = PretrainedWeights.FromFile(path);

        Assert.Equal(["a", "b", "empty", "last"], weights.Keys.Order());
    }
}
