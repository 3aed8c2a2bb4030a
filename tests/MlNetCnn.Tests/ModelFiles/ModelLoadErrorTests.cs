using System.Reflection;
using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>What a caller catches when a model file is damaged, and what a failed load leaves behind.</summary>
public sealed class ModelLoadErrorTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string DamagedModel()
    {
        string path = _temp.Combine(Guid.NewGuid().ToString("N") + ".zip");
        File.WriteAllBytes(path, SmallSavedModel.Bytes);
        var entry = ModelFileEditor.ReadEntry(path);
        entry[^10] ^= 0xFF;
        ModelFileEditor.WriteEntry(path, entry);
        return path;
    }

    public static TheoryData<string> Damages => ["record", "truncated zip", "not a zip"];

    private string Damaged(string damage)
    {
        if (damage == "record")
            return DamagedModel();
        string path = _temp.Combine(Guid.NewGuid().ToString("N") + ".zip");
        File.WriteAllBytes(path, damage == "not a zip" ? "just text"u8.ToArray() : SmallSavedModel.Bytes[..(SmallSavedModel.Bytes.Length / 2)]);
        return path;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void LoadCnnModelThrowsInvalidDataExceptionNamingTheFileAtTheTopLevel(string damage)
    {
        string path = Damaged(damage);

        var error = Assert.Throws<InvalidDataException>(() => new MLContext().Model.LoadCnnModel(path, out _));

        Assert.Contains(path, error.Message);
        if (damage == "record")
            Assert.Contains("checksum", error.Message);
    }

    [Fact]
    public void ModelLoadWrapsTheLoadersErrorAndTheDocumentedFilterCatchesIt()
    {
        string path = DamagedModel();
        string? caught = null;

        // The README's snippet for mlContext.Model.Load.
        try
        {
            new MLContext().Model.Load(path, out _);
        }
        catch (Exception e) when (e.GetBaseException() is InvalidDataException damaged)
        {
            caught = damaged.Message;
        }

        Assert.NotNull(caught);
        Assert.Contains("CnnModel.bin", caught);
        Assert.Contains("checksum", caught);
    }

    [Fact]
    public void ModelLoadWrapsTheLoadersErrorInTargetInvocationExceptions()
    {
        // Documents why LoadCnnModel exists: ML.NET calls loaders by reflection.
        var error = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(DamagedModel(), out _));
        Assert.IsType<TargetInvocationException>(error);
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void AFailedLoadLeavesNoTemporaryFolder(string damage)
    {
        string path = Damaged(damage), temporary = _temp.Combine("ml-temp");
        Directory.CreateDirectory(temporary);
        var ml = new MLContext { TempFilePath = temporary };

        Assert.Throws<InvalidDataException>(() => ml.Model.LoadCnnModel(path, out _));

        Assert.Empty(Directory.GetFileSystemEntries(temporary));
    }

    [Fact]
    public void ASuccessfulLoadLeavesNoTemporaryFolder()
    {
        string path = _temp.Combine("model.zip"), temporary = _temp.Combine("ml-temp");
        File.WriteAllBytes(path, SmallSavedModel.Bytes);
        Directory.CreateDirectory(temporary);
        var ml = new MLContext { TempFilePath = temporary };

        using ((IDisposable)ml.Model.LoadCnnModel(path, out _))
        {
        }

        Assert.Empty(Directory.GetFileSystemEntries(temporary));
    }
}
