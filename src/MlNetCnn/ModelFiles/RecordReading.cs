namespace MlNetCnn.Persistence;

/// <summary>
/// Reading sizes from a record held in a seekable stream: every count and length is checked against the bytes that
/// are left before anything of that size is allocated, so a forged size costs nothing and names what was forged.
/// </summary>
internal static class RecordReading
{
    public static long Remaining(this BinaryReader reader) => reader.BaseStream.Length - reader.BaseStream.Position;

    /// <summary>Reads an Int32 count of items that take at least <paramref name="minimumBytesPerItem"/> bytes each.</summary>
    public static int ReadCount(this BinaryReader reader, string what, int minimumBytesPerItem, int maximum = int.MaxValue)
    {
        int count = reader.ReadInt32();
        long remaining = reader.Remaining();
        if (count < 0 || count > maximum || (long)count * minimumBytesPerItem > remaining)
            throw new InvalidDataException($"the {what} ({count}) is impossible: {remaining} bytes are left in the record.");
        return count;
    }

    /// <summary>Reads a length-prefixed UTF-8 string (BinaryWriter.Write(string)) of at most <paramref name="maximumBytes"/> bytes.</summary>
    public static string ReadText(this BinaryReader reader, string what, int maximumBytes = 1 << 16)
    {
        long start = reader.BaseStream.Position;
        int length;
        try
        {
            length = reader.Read7BitEncodedInt();
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"the length of the {what} is corrupt.");
        }
        if (length < 0 || length > maximumBytes || length > reader.Remaining())
            throw new InvalidDataException($"the {what} length ({length} bytes) is impossible: {reader.Remaining()} "
                + $"bytes are left, at most {maximumBytes} allowed.");
        reader.BaseStream.Position = start;
        return reader.ReadString();
    }

    /// <summary>Reads an Int64 byte length followed by that many bytes.</summary>
    public static byte[] ReadBlob(this BinaryReader reader, string what, long length)
    {
        long remaining = reader.Remaining();
        if (length < 0 || length > remaining || length > Array.MaxLength)
            throw new InvalidDataException($"the {what} length ({length} bytes) is impossible: {remaining} bytes are left in the record.");
        return reader.ReadBytes((int)length);
    }
}
