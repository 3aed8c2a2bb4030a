using System.Security.Cryptography;
using TorchSharp;

namespace MlNetCnn.Persistence;

/// <summary>
/// The binary format of a <see cref="CnnTransformer"/> (stored inside ML.NET's model zip): a magic number and format
/// version, the architecture, input shape, classes, label values, input standardization and training history, then
/// the weights with their SHA-256 so a damaged file is rejected before any byte reaches native code.
/// </summary>
internal static class CnnModelFormat
{
    private const uint Magic = 0x4E4E4331; // "1CNN"
    // 2 added the embedding column, 3 the test-time augmentation, 4 a per-pixel mean (pretrained weights' mean image).
    internal const int CurrentVersion = 4;

    public static void Write(CnnTransformer transformer, Stream stream)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(CurrentVersion);
        writer.Write(transformer.Architecture.Name);
        writer.Write(transformer.InputShape.Channels);
        writer.Write(transformer.InputShape.Height);
        writer.Write(transformer.InputShape.Width);
        writer.Write(transformer.ClassCount);
        writer.Write(transformer.FeatureColumnName);
        writer.Write(transformer.ScoringBatchSize);
        writer.Write(transformer.EmbeddingColumnName ?? "");
        writer.Write((int)transformer.TestTimeAugmentation);
        writer.Write(transformer.LabelKeyValues != null);
        transformer.LabelKeyValues?.Write(writer);
        WriteFloats(writer, transformer.Network.Standardization.Mean);
        WriteFloats(writer, transformer.Network.Standardization.Std);
        EpochSummary.WriteAll(writer, transformer.TrainingHistory);

        using var weights = new MemoryStream();
        transformer.Network.Module.save(weights);
        byte[] bytes = weights.ToArray();
        writer.Write(bytes.LongLength);
        writer.Write(SHA256.HashData(bytes));
        writer.Write(bytes);
    }

    public static CnnTransformer Read(Stream stream, string source)
    {
        try
        {
            return ReadCore(stream);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"The CNN model in '{source}' is truncated.", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The CNN model in '{source}' is corrupt: {e.Message}", e);
        }
    }

    private static CnnTransformer ReadCore(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (reader.ReadUInt32() != Magic)
            throw new InvalidDataException("it does not start with the MlNetCnn model signature.");
        int version = reader.ReadInt32();
        if (version < 1 || version > CurrentVersion)
            throw new InvalidDataException($"format version {version} is not supported by this MlNetCnn (it reads 1 to {CurrentVersion}); upgrade MlNetCnn.");
        var architecture = CnnArchitecture.FromName(reader.ReadString());
        var shape = new ImageShape(ReadPositive(reader, "channels"), ReadPositive(reader, "height"), ReadPositive(reader, "width"));
        int classCount = ReadPositive(reader, "class count");
        string featureColumn = reader.ReadString();
        int scoringBatchSize = ReadPositive(reader, "scoring batch size");
        string? embeddingColumn = version >= 2 ? reader.ReadString() : "";
        var testTimeAugmentation = version >= 3 ? (TestTimeAugmentation)reader.ReadInt32() : TestTimeAugmentation.None;
        if (!Enum.IsDefined(testTimeAugmentation))
            throw new InvalidDataException($"the test-time augmentation {(int)testTimeAugmentation} is unknown.");
        var keyValues = reader.ReadBoolean() ? LabelKeyValues.Read(reader) : null;
        var mean = ReadFloats(reader, shape.Channels, version >= 4 ? shape.Size : shape.Channels);
        var std = ReadFloats(reader, shape.Channels, shape.Channels);
        var history = EpochSummary.ReadAll(reader);

        long length = reader.ReadInt64();
        byte[] expectedHash = reader.ReadBytes(32);
        if (length < 0 || length > Array.MaxLength)
            throw new InvalidDataException($"the weights length {length} is impossible.");
        byte[] weights = reader.ReadBytes((int)length);
        if (weights.Length != length)
            throw new EndOfStreamException();
        if (!SHA256.HashData(weights).AsSpan().SequenceEqual(expectedHash))
            throw new InvalidDataException("the weights do not match their checksum.");

        var module = architecture.CreateModule(shape.Channels, shape.Height, shape.Width, classCount);
        try
        {
            using var weightStream = new MemoryStream(weights, writable: false);
            module.load(weightStream, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
        {
            module.Dispose();
            throw new InvalidDataException($"the weights do not fit architecture {architecture.Name} at {shape} with {classCount} classes: {e.Message}", e);
        }
        var network = new ScoringNetwork(module, new InputStandardization(mean, std, shape), shape, classCount, embeddingColumnName: embeddingColumn.Length == 0 ? null : embeddingColumn, testTimeAugmentation: testTimeAugmentation);
        return new CnnTransformer(architecture, network, featureColumn, keyValues, history, scoringBatchSize);
    }

    private static int ReadPositive(BinaryReader reader, string what)
    {
        int value = reader.ReadInt32();
        if (value <= 0 || value > 1 << 24)
            throw new InvalidDataException($"the {what} ({value}) is impossible.");
        return value;
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        writer.Write(values.Length);
        foreach (float v in values)
            writer.Write(v);
    }

    private static float[] ReadFloats(BinaryReader reader, int expected, int orExpected)
    {
        int count = reader.ReadInt32();
        if (count != expected && count != orExpected)
            throw new InvalidDataException($"expected {expected}{(orExpected == expected ? "" : $" or {orExpected}")} standardization values, found {count}.");
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = reader.ReadSingle();
        return values;
    }
}
