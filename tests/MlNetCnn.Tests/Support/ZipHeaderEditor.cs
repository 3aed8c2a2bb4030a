using System.Buffers.Binary;
using System.Text;

namespace MlNetCnn.Tests;

/// <summary>
/// Rewrites the fields a zip reader trusts (sizes, compression method, offsets) in place, as a forger would: the
/// central directory record of an entry and its local header, found by walking the archive from its end record.
/// </summary>
internal static class ZipHeaderEditor
{
    private const uint CentralSignature = 0x02014b50, EndSignature = 0x06054b50;

    /// <summary>A 16- or 32-bit field: whose (an entry's name, or "end"), which, where and how wide.</summary>
    internal readonly record struct Field(string Owner, string Name, int Offset, int Width)
    {
        public override string ToString() => $"{Owner}: {Name}";
    }

    /// <summary>Field offsets within a central directory record and within a local file header.</summary>
    private static readonly (string Name, int Central, int Local, int Width)[] EntryFields =
    [
        ("method", 10, 8, 2),
        ("crc", 16, 14, 4),
        ("compressed size", 20, 18, 4),
        ("uncompressed size", 24, 22, 4),
        ("name length", 28, 26, 2),
        ("extra length", 30, 28, 2),
    ];

    /// <summary>Sets the compressed and/or uncompressed size of <paramref name="entryName"/> in both headers.</summary>
    public static void SetSizes(byte[] zip, string entryName, uint? compressed, uint? uncompressed)
    {
        foreach (var field in Fields(zip).Where(f => f.Owner == entryName))
        {
            uint? value = field.Name.EndsWith(" uncompressed size", StringComparison.Ordinal) ? uncompressed
                : field.Name.EndsWith(" compressed size", StringComparison.Ordinal) ? compressed : null;
            if (value is { } size)
                BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(field.Offset), size);
        }
    }

    /// <summary>
    /// Every size, method and offset field of a well-formed archive: an entry's in its central record and in its
    /// local header ("central size", "local size"), and the end record's.
    /// </summary>
    public static List<Field> Fields(byte[] zip)
    {
        var fields = new List<Field>();
        int end = LastIndexOf(zip, EndSignature);
        if (end < 0)
            return fields;
        fields.Add(new("end", "entries on disk", end + 8, 2));
        fields.Add(new("end", "entries", end + 10, 2));
        fields.Add(new("end", "directory size", end + 12, 4));
        fields.Add(new("end", "directory offset", end + 16, 4));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(end + 10));
        int at = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end + 16));
        for (int i = 0; i < count && at + 46 <= zip.Length && ReadSignature(zip, at) == CentralSignature; i++)
        {
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
            string name = Encoding.UTF8.GetString(zip, at + 46, nameLength);
            int local = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at + 42));
            foreach (var (field, central, inLocal, width) in EntryFields)
            {
                fields.Add(new(name, $"central {field}", at + central, width));
                fields.Add(new(name, $"local {field}", local + inLocal, width));
            }
            fields.Add(new(name, "central local header offset", at + 42, 4));
            at += 46 + nameLength + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 30))
                + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 32));
        }
        return fields;
    }

    private static uint ReadSignature(byte[] zip, int at) => BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at));

    private static int LastIndexOf(byte[] zip, uint signature)
    {
        for (int at = zip.Length - 22; at >= 0; at--)
            if (ReadSignature(zip, at) == signature)
                return at;
        return -1;
    }
}
