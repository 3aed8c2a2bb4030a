using System.Security.Cryptography;

namespace MlNetCnn.Persistence;

/// <summary>
/// A resumable snapshot of a training run: weights, optimizer state, schedule position, random state, history and
/// the best weights so far. Written atomically (a temporary file renamed over the old one, so a crash leaves the
/// previous checkpoint intact) and checksummed, so a damaged file is rejected before anything is loaded.
/// </summary>
internal sealed class TrainingCheckpoint
{
    private const uint Magic = 0x544B4331; // "1CKT"
    // 2 adds the time limit's planned epochs to the training state.
    private const int Version = 2;

    /// <summary>The extension of checkpoint files.</summary>
    internal const string Extension = ".cnnckpt";

    /// <summary>The options and data shape a resumed run must share with the run that wrote the checkpoint.</summary>
    public required string Fingerprint { get; init; }

    public required float[] Mean { get; init; }

    public required float[] Std { get; init; }

    public required TrainingState State { get; init; }

    public required byte[] Weights { get; init; }

    public required byte[] OptimizerState { get; init; }

    public required byte[] RandomState { get; init; }

    public byte[]? BestWeights { get; init; }

    /// <summary>The file this checkpoint was loaded from (named in errors), or null.</summary>
    public string? Source { get; init; }

    public void Save(string path)
    {
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Fingerprint);
            WriteFloats(writer, Mean);
            WriteFloats(writer, Std);
            State.Write(writer);
            WriteBytes(writer, Weights);
            WriteBytes(writer, OptimizerState);
            WriteBytes(writer, RandomState);
            writer.Write(BestWeights != null);
            if (BestWeights != null)
                WriteBytes(writer, BestWeights);
        }

        AtomicFile.Write(path, file =>
        {
            using var writer = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write(payload.Length);
            writer.Write(SHA256.HashData(payload.GetBuffer().AsSpan(0, (int)payload.Length)));
            writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
        });
    }

    /// <summary>Removes the temporary files of checkpoint writes that were killed in <paramref name="directory"/>; returns how many.</summary>
    public static int RemoveStaleTemporaryFiles(string directory) => AtomicFile.RemoveStale(directory, "checkpoint-*" + Extension);

    /// <summary>The completed epochs and fingerprint recorded in a checkpoint, or null when it is missing or unusable.</summary>
    public static (int CompletedEpochs, string Fingerprint)? TryReadProgress(string path)
    {
        try
        {
            var checkpoint = Load(path);
            return (checkpoint.State.CompletedEpochs, checkpoint.Fingerprint);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Reads and verifies a checkpoint; with <paramref name="channels"/>, its standardization must have one value per channel.</summary>
    public static TrainingCheckpoint Load(string path, int? channels = null)
    {
        try
        {
            using var file = File.OpenRead(path);
            using var reader = new BinaryReader(file);
            if (reader.Remaining() < 8 || reader.ReadUInt32() != Magic)
                throw new InvalidDataException("it is not an MlNetCnn training checkpoint.");
            int version = reader.ReadInt32();
            if (version is < 1 or > Version)
                throw new InvalidDataException($"checkpoint format {version} is not supported (this MlNetCnn reads 1 to {Version}).");
            long length = reader.ReadInt64();
            byte[] hash = reader.ReadBytes(32);
            byte[] payload = reader.ReadBlob("checkpoint contents", length);
            if (payload.Length != length || hash.Length != 32)
                throw new EndOfStreamException();
            if (!SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
                throw new InvalidDataException("the contents do not match their checksum.");

            using var body = new BinaryReader(new MemoryStream(payload, writable: false));
            var checkpoint = new TrainingCheckpoint
            {
                Fingerprint = body.ReadText("fingerprint"),
                Mean = ReadFloats(body),
                Std = ReadFloats(body),
                State = TrainingState.Read(body, version),
                Weights = ReadBytes(body, "weights"),
                OptimizerState = ReadBytes(body, "optimizer state"),
                RandomState = ReadBytes(body, "random generator state"),
                BestWeights = ReadFlag(body) ? ReadBytes(body, "best weights") : null,
                Source = path,
            };
            if (body.Remaining() != 0)
                throw new InvalidDataException($"the contents hold {body.Remaining()} bytes after the last field.");
            // The mean has one value per channel, or one per pixel (pretrained weights' mean image).
            if (checkpoint.Std.Length == 0 || checkpoint.Mean.Length % checkpoint.Std.Length != 0
                || checkpoint.Std.Any(v => !(v > 0 && float.IsFinite(v)))
                || checkpoint.Mean.Any(v => !float.IsFinite(v)))
                throw new InvalidDataException("the input standardization is invalid (one finite mean per channel or "
                    + "pixel and one positive standard deviation per channel).");
            if (channels is { } expected && checkpoint.Std.Length != expected)
                throw new InvalidDataException($"its input standardization has {checkpoint.Std.Length} channels; the data has {expected}.");
            return checkpoint;
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new InvalidDataException($"The checkpoint '{path}' cannot be used: "
                + $"{(e is EndOfStreamException ? "it is truncated." : e.Message)}", e);
        }
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        writer.Write(values.Length);
        foreach (float v in values)
            writer.Write(v);
    }

    private static float[] ReadFloats(BinaryReader reader)
    {
        int count = reader.ReadCount("standardization value count", sizeof(float), 1 << 16);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = reader.ReadSingle();
        return values;
    }

    private static bool ReadFlag(BinaryReader reader) => reader.ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new InvalidDataException($"a flag is {b}, not 0 or 1."),
    };

    private static void WriteBytes(BinaryWriter writer, byte[] bytes)
    {
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    private static byte[] ReadBytes(BinaryReader reader, string what) => reader.ReadBlob(what, reader.ReadInt32());

    /// <summary>
    /// Checks every native state against the network and optimizer it is about to be loaded into (weights, best
    /// weights, optimizer state, random generator state), so a forged or damaged field is an error that names the
    /// file instead of a TorchSharp exception or a libtorch abort.
    /// </summary>
    public void CheckFits(TorchSharp.torch.nn.Module network, TorchSharp.Modules.OptimizerHelper optimizer, string networkName)
    {
        Check(() => TorchStateFormat.CheckModuleState(Weights, network, networkName), "its weights do not fit this run");
        if (BestWeights != null)
            Check(() => TorchStateFormat.CheckModuleState(BestWeights, network, networkName), "its best weights do not fit this run");
        Check(() => TorchStateFormat.CheckOptimizerState(OptimizerState, optimizer), "its optimizer state does not fit this run");
        Check(() => TorchStateFormat.CheckRandomState(RandomState), "its random generator state cannot be restored");
    }

    private void Check(Action check, string fault)
    {
        try
        {
            check();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw Invalid($"{fault}: {(e is EndOfStreamException ? "it is truncated." : e.Message)}", e);
        }
    }

    /// <summary>
    /// Makes <paramref name="bestPath"/> agree with this checkpoint (the last one of a run) after a kill between the two
    /// checkpoint writes: when this checkpoint is itself the best epoch and the best file is missing, unusable, from
    /// another run or older, it is rewritten from this one. A best file from a later epoch of the same run is kept (the
    /// resumed run reaches it again). Returns what was done, or null when nothing was needed.
    /// </summary>
    public string? ReconcileBest(string bestPath)
    {
        if (State.BestEpoch == 0 || (Source != null && Path.GetFullPath(Source) == Path.GetFullPath(bestPath)))
            return null;
        var best = TryReadProgress(bestPath);
        if (best is { } b && b.Fingerprint == Fingerprint && (b.CompletedEpochs == State.BestEpoch || b.CompletedEpochs > State.CompletedEpochs))
            return null;
        string held = best is { } found
            ? (found.Fingerprint == Fingerprint ? $"epoch {found.CompletedEpochs}" : "another run's checkpoint")
            : "nothing usable";
        if (State.BestEpoch != State.CompletedEpochs)
            return $"'{bestPath}' holds {held}, but the best epoch was {State.BestEpoch}; it is replaced at the next improvement.";
        Save(bestPath);
        return $"rewrote '{bestPath}' with epoch {State.BestEpoch}, the best epoch (it held {held}; the run had been "
            + "stopped between the two checkpoint writes).";
    }

    /// <summary>An error about this checkpoint that names its file.</summary>
    public InvalidDataException Invalid(string fault, Exception? inner = null)
        => new($"The checkpoint '{Source}' cannot be used: {fault}", inner);
}
