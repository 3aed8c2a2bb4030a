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
    private const int Version = 1;

    /// <summary>The options and data shape a resumed run must share with the run that wrote the checkpoint.</summary>
    public required string Fingerprint { get; init; }

    public required float[] Mean { get; init; }

    public required float[] Std { get; init; }

    public required TrainingState State { get; init; }

    public required byte[] Weights { get; init; }

    public required byte[] OptimizerState { get; init; }

    public required byte[] RandomState { get; init; }

    public byte[]? BestWeights { get; init; }

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

        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            using (var writer = new BinaryWriter(file))
            {
                writer.Write(Magic);
                writer.Write(Version);
                writer.Write(payload.Length);
                writer.Write(SHA256.HashData(payload.GetBuffer().AsSpan(0, (int)payload.Length)));
                writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
                writer.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }

    public static TrainingCheckpoint Load(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            using var reader = new BinaryReader(file);
            if (reader.ReadUInt32() != Magic)
                throw new InvalidDataException("it is not an MlNetCnn training checkpoint.");
            int version = reader.ReadInt32();
            if (version != Version)
                throw new InvalidDataException($"checkpoint format {version} is not supported (this MlNetCnn reads {Version}).");
            long length = reader.ReadInt64();
            byte[] hash = reader.ReadBytes(32);
            if (length < 0 || length > Array.MaxLength || length > file.Length)
                throw new InvalidDataException("the recorded length is impossible.");
            byte[] payload = reader.ReadBytes((int)length);
            if (payload.Length != length)
                throw new EndOfStreamException();
            if (!SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
                throw new InvalidDataException("the contents do not match their checksum.");

            using var body = new BinaryReader(new MemoryStream(payload, writable: false));
            return new TrainingCheckpoint
            {
                Fingerprint = body.ReadString(),
                Mean = ReadFloats(body),
                Std = ReadFloats(body),
                State = TrainingState.Read(body),
                Weights = ReadBytes(body),
                OptimizerState = ReadBytes(body),
                RandomState = ReadBytes(body),
                BestWeights = body.ReadBoolean() ? ReadBytes(body) : null,
            };
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new InvalidDataException($"The checkpoint '{path}' cannot be used: {(e is EndOfStreamException ? "it is truncated." : e.Message)}", e);
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
        int count = reader.ReadInt32();
        if (count < 0 || count > 4096)
            throw new InvalidDataException("the standardization values are corrupt.");
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = reader.ReadSingle();
        return values;
    }

    private static void WriteBytes(BinaryWriter writer, byte[] bytes)
    {
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    private static byte[] ReadBytes(BinaryReader reader)
    {
        int length = reader.ReadInt32();
        if (length < 0)
            throw new InvalidDataException("a recorded length is negative.");
        byte[] bytes = reader.ReadBytes(length);
        return bytes.Length == length ? bytes : throw new EndOfStreamException();
    }
}
