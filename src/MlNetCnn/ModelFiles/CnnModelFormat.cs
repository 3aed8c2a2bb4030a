using System.Security.Cryptography;
using TorchSharp;

namespace MlNetCnn.Persistence;

/// <summary>
/// The binary format of a <see cref="CnnTransformer"/> (stored inside ML.NET's model zip). Version 4: a magic number,
/// the format version, the record's length and its SHA-256, then the record: architecture, input shape, classes,
/// label values, scoring settings, input standardization, training history and the weights. The checksum covers all
/// of it (.NET's zip reader does not check CRCs, so a flipped bit must be caught here), and every size in the record is
/// checked against the others and against the bytes left before anything of that size is allocated or reaches native
/// code. Versions 1 to 3 (checksum over the weights only) still load.
/// </summary>
internal static class CnnModelFormat
{
    private const uint Magic = 0x4E4E4331; // "1CNN"
    // 2 added the embedding column, 3 the test-time augmentation, 4 the checksum over the whole record, 5 a per-pixel
    // mean (the mean image of pretrained weights, see PretrainedInputNormalization).
    internal const int CurrentVersion = 5;

    // Generous limits that no model trained on a CPU reaches (a batch of 64 such images is 4 GB); they bound what a
    // forged record can ask of a forward pass at load (the embedding size is measured on one image).
    private const int MaximumSide = 1 << 16;
    private const long MaximumImageSize = 1L << 24;

    public static void Write(CnnTransformer transformer, Stream stream)
    {
        using var record = new MemoryStream();
        using (var writer = new BinaryWriter(record, System.Text.Encoding.UTF8, leaveOpen: true))
        {
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
            byte[] weights = ModuleWeights.Serialize(transformer.Network.Module);
            writer.Write(weights.LongLength);
            writer.Write(weights);
        }

        using var header = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        header.Write(Magic);
        header.Write(CurrentVersion);
        header.Write(record.Length);
        header.Write(SHA256.HashData(record.GetBuffer().AsSpan(0, (int)record.Length)));
        header.Write(record.GetBuffer(), 0, (int)record.Length);
    }

    /// <summary>Reads a model record; every fault is an <see cref="InvalidDataException"/> that names <paramref name="source"/>.</summary>
    public static CnnTransformer Read(Stream stream, string source)
    {
        try
        {
            if (!stream.CanSeek)
            {
                var copy = new MemoryStream();
                stream.CopyTo(copy);
                copy.Position = 0;
                stream = copy;
            }
            return ReadCore(stream);
        }
        // Thrown without an inner exception (the message carries it), so that the exception a caller of
        // mlContext.Model.Load finds with GetBaseException() under ML.NET's wrappers is this one, naming the source.
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"The CNN model in '{source}' is truncated.");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The CNN model in '{source}' is damaged or forged: {e.Message}");
        }
    }

    private static CnnTransformer ReadCore(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (reader.Remaining() < 8 || reader.ReadUInt32() != Magic)
            throw new InvalidDataException("it does not start with the MlNetCnn model signature.");
        int version = reader.ReadInt32();
        if (version < 1 || version > CurrentVersion)
            throw new InvalidDataException($"format version {version} is not supported by this MlNetCnn (it reads 1 to "
                + $"{CurrentVersion}); upgrade MlNetCnn.");
        if (version < 4)
            return ReadRecord(reader, version);

        long length = reader.ReadInt64();
        byte[] expectedHash = reader.ReadBytes(32);
        byte[] record = reader.ReadBlob("record", length);
        if (record.Length != length || expectedHash.Length != 32)
            throw new EndOfStreamException();
        if (!SHA256.HashData(record).AsSpan().SequenceEqual(expectedHash))
            throw new InvalidDataException("the record does not match its checksum (the file was damaged or edited).");
        using var body = new BinaryReader(new MemoryStream(record, writable: false));
        var transformer = ReadRecord(body, version);
        if (body.Remaining() != 0)
        {
            transformer.Dispose();
            throw new InvalidDataException($"the record holds {body.Remaining()} bytes after the weights.");
        }
        return transformer;
    }

    private static CnnTransformer ReadRecord(BinaryReader reader, int version)
    {
        var architecture = CnnArchitecture.FromName(reader.ReadText("architecture name", 1024));
        int channels = ReadPositive(reader, "channels"), height = ReadPositive(reader, "height"), width = ReadPositive(reader, "width");
        if (height > MaximumSide || width > MaximumSide || (long)channels * height * width > MaximumImageSize)
            throw new InvalidDataException($"the input shape {channels}×{height}×{width} is impossible (at most "
                + $"{MaximumImageSize:N0} values per image and {MaximumSide:N0} pixels per side).");
        var shape = new ImageShape(channels, height, width);
        int classCount = ReadPositive(reader, "class count");
        string featureColumn = reader.ReadText("feature column name");
        int scoringBatchSize = ReadPositive(reader, "scoring batch size");
        // Models from before the option had a bound keep loading with the largest batch allowed now.
        if (scoringBatchSize > CnnTrainerOptions.MaxScoringBatchSize)
            scoringBatchSize = version >= 4
                ? throw new InvalidDataException($"the scoring batch size ({scoringBatchSize}) is above the maximum of "
                    + $"{CnnTrainerOptions.MaxScoringBatchSize}.")
                : CnnTrainerOptions.MaxScoringBatchSize;
        string embeddingColumn = version >= 2 ? reader.ReadText("embedding column name") : "";
        var testTimeAugmentation = version >= 3 ? (TestTimeAugmentation)reader.ReadInt32() : TestTimeAugmentation.None;
        if (!Enum.IsDefined(testTimeAugmentation))
            throw new InvalidDataException($"the test-time augmentation {(int)testTimeAugmentation} is unknown.");
        if (!TestTimeAugmenter.Fits(testTimeAugmentation, shape))
            throw new InvalidDataException($"the test-time augmentation {testTimeAugmentation} cannot score images of "
                + $"{shape} (it needs at least 2×2 pixels).");
        var keyValues = ReadFlag(reader, "label values flag") ? LabelKeyValues.Read(reader) : null;
        if (keyValues != null && keyValues.Count != classCount)
            throw new InvalidDataException($"the record has {classCount} classes but {keyValues.Count} label values.");
        var mean = ReadFloats(reader, channels, "mean", version >= 5 ? shape.Size : channels);
        var std = ReadFloats(reader, channels, "standard deviation", channels);
        if (std.Any(s => !(s > 0)))
            throw new InvalidDataException("a standardization standard deviation is not positive.");
        var history = EpochSummary.ReadAll(reader);

        long length = reader.ReadInt64();
        byte[]? legacyHash = version < 4 ? reader.ReadBytes(32) : null;
        byte[] weights = reader.ReadBlob("weights", length);
        if (weights.Length != length)
            throw new EndOfStreamException();
        if (legacyHash != null && !SHA256.HashData(weights).AsSpan().SequenceEqual(legacyHash))
            throw new InvalidDataException("the weights do not match their checksum.");

        // The sizes in the header must agree with the weights before a network of that size is built.
        var tensors = TorchStateFormat.ReadModuleHeaders(weights);
        long elements = tensors.Sum(t => t.ElementCount);
        if (classCount > elements || channels > elements)
            throw new InvalidDataException($"the record claims {classCount} classes and {channels} channels, but its "
                + $"weights hold only {elements} values.");

        NetworkSizeCheck.Check(architecture, channels, height, width, classCount, elements);

        torch.nn.Module<torch.Tensor, torch.Tensor> module;
        try
        {
            module = architecture.CreateModule(channels, height, width, classCount);
        }
        // A size the architecture refuses (ArgumentException) or libtorch cannot allocate (ExternalException).
        catch (Exception e) when (e is ArgumentException or System.Runtime.InteropServices.ExternalException)
        {
            throw new InvalidDataException($"architecture {architecture.Name} cannot be built for {shape} with {classCount} classes: {e.Message}", e);
        }
        try
        {
            TorchStateFormat.CheckModuleState(weights, module, $"{architecture.Name} at {shape} with {classCount} classes");
            ModuleWeights.Deserialize(module, weights);
        }
        catch (Exception e)
        {
            module.Dispose();
            if (e is InvalidDataException)
                throw;
            throw new InvalidDataException($"the weights do not fit architecture {architecture.Name} at {shape} with "
                + $"{classCount} classes: {e.Message}", e);
        }
        ScoringNetwork network;
        var standardization = new InputStandardization(mean, std, shape);
        try
        {
            network = new ScoringNetwork(architecture, module, standardization, shape, classCount,
                embeddingColumnName: embeddingColumn.Length == 0 ? null : embeddingColumn,
                testTimeAugmentation: testTimeAugmentation);
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            module.Dispose();
            standardization.Dispose();
            throw new InvalidDataException($"architecture {architecture.Name} cannot score one image of {shape}: {e.Message}", e);
        }
        return new CnnTransformer(architecture, network, featureColumn, keyValues, history, scoringBatchSize);
    }

    private static int ReadPositive(BinaryReader reader, string what)
    {
        int value = reader.ReadInt32();
        if (value <= 0 || value > 1 << 24)
            throw new InvalidDataException($"the {what} ({value}) is impossible.");
        return value;
    }

    private static bool ReadFlag(BinaryReader reader, string what) => reader.ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new InvalidDataException($"the {what} is {b}, not 0 or 1."),
    };

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        writer.Write(values.Length);
        foreach (float v in values)
            writer.Write(v);
    }

    private static float[] ReadFloats(BinaryReader reader, int expected, string what, int orPerPixel)
    {
        int count = reader.ReadInt32();
        if (count != expected && count != orPerPixel)
            throw new InvalidDataException($"expected {expected} standardization {what} values (one per "
                + $"channel){(orPerPixel == expected ? "" : $" or {orPerPixel} (one per pixel)")}, found {count}.");
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = reader.ReadSingle();
            if (!float.IsFinite(values[i]))
                throw new InvalidDataException($"a standardization {what} value is {values[i]}.");
        }
        return values;
    }
}
