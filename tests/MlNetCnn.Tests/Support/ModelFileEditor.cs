using System.IO.Compression;
using System.Security.Cryptography;

namespace MlNetCnn.Tests;

/// <summary>
/// Reads and edits the CNN record inside a saved model zip, as an attacker or a damaged disk would: fields are
/// located by reading the record the way format version 5 lays it out, and an edit can recompute the checksum.
/// </summary>
internal static class ModelFileEditor
{
    /// <summary>Magic, version, record length and SHA-256 come before the record.</summary>
    public const int RecordOffset = 4 + 4 + 8 + 32;

    public static byte[] ReadEntry(string zipPath)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        using var stream = Entry(zip).Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public static void WriteEntry(string zipPath, byte[] bytes)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var entry = Entry(zip);
        string name = entry.FullName;
        entry.Delete();
        using var stream = zip.CreateEntry(name).Open();
        stream.Write(bytes);
    }

    private static ZipArchiveEntry Entry(ZipArchive zip) => zip.Entries.Single(e => e.FullName.EndsWith("CnnModel.bin", StringComparison.Ordinal));

    /// <summary>Writes the record's length and SHA-256 for its current contents (a forger's last step).</summary>
    public static byte[] Rehash(byte[] entry)
    {
        var result = (byte[])entry.Clone();
        BitConverter.GetBytes((long)(entry.Length - RecordOffset)).CopyTo(result, 8);
        SHA256.HashData(entry.AsSpan(RecordOffset)).CopyTo(result, 16);
        return result;
    }

    /// <summary>Where each field of a version-4 record starts (offsets into the entry).</summary>
    public sealed record Layout(int Channels, int Height, int Width, int Classes, int ScoringBatchSize,
        int TestTimeAugmentation, int LabelValueCount, int FirstLabelValue, int Mean, int WeightsLength, int Weights);

    public static Layout Locate(byte[] entry)
    {
        using var reader = new BinaryReader(new MemoryStream(entry));
        reader.BaseStream.Position = RecordOffset;
        reader.ReadString();
        int channels = Position(reader);
        reader.ReadInt32();
        reader.ReadInt32();
        reader.ReadInt32();
        int classes = Position(reader);
        reader.ReadInt32();
        reader.ReadString();
        int scoringBatchSize = Position(reader);
        reader.ReadInt32();
        reader.ReadString();
        int tta = Position(reader);
        reader.ReadInt32();
        if (!reader.ReadBoolean())
            throw new InvalidOperationException("The test model should have label values.");
        reader.ReadInt32();
        int count = Position(reader);
        int n = reader.ReadInt32();
        int first = Position(reader);
        for (int i = 0; i < n; i++)
            reader.ReadString();
        int mean = Position(reader);
        int c = reader.ReadInt32();
        reader.BaseStream.Position += 4 * c;
        reader.BaseStream.Position += 4 + 4 * reader.ReadInt32();
        int epochs = reader.ReadInt32();
        reader.BaseStream.Position += 60L * epochs;
        int weightsLength = Position(reader);
        return new Layout(channels, channels + 4, channels + 8, classes, scoringBatchSize, tta, count, first, mean, weightsLength, weightsLength + 8);
    }

    private static int Position(BinaryReader reader) => (int)reader.BaseStream.Position;

    /// <summary>Replaces the weights with <paramref name="weights"/> (fixing their length field; the checksum is left
    /// to <see cref="Rehash"/>).</summary>
    public static byte[] ReplaceWeights(byte[] entry, byte[] weights)
    {
        var layout = Locate(entry);
        return [.. entry.AsSpan(0, layout.WeightsLength), .. BitConverter.GetBytes((long)weights.Length), .. weights];
    }

    /// <summary>Replaces the record's architecture name, its first field (the checksum is left to <see cref="Rehash"/>).</summary>
    public static byte[] ReplaceArchitectureName(byte[] entry, string name)
    {
        using var reader = new BinaryReader(new MemoryStream(entry));
        reader.BaseStream.Position = RecordOffset;
        reader.ReadString();
        int end = (int)reader.BaseStream.Position;
        using var replacement = new MemoryStream();
        using (var writer = new BinaryWriter(replacement))
            writer.Write(name);
        return [.. entry.AsSpan(0, RecordOffset), .. replacement.ToArray(), .. entry.AsSpan(end)];
    }

    /// <summary>The same model in format version 3: the record's fields inline, the checksum over the weights only.</summary>
    public static byte[] ToVersion3(byte[] entry)
    {
        var layout = Locate(entry);
        byte[] weights = entry[layout.Weights..];
        return [.. entry.AsSpan(0, 4), .. BitConverter.GetBytes(3), .. entry.AsSpan(RecordOffset, layout.WeightsLength - RecordOffset),
            .. BitConverter.GetBytes((long)weights.Length), .. SHA256.HashData(weights), .. weights];
    }

    public static void WriteInt32(byte[] entry, int offset, int value) => BitConverter.GetBytes(value).CopyTo(entry, offset);
}
