using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class Cifar10Tests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void ReadsTheTrainingBatchesInOrderAsPlanarFeaturesAndKeyLabels()
    {
        DatasetFiles.WriteCifarBatch(_temp.Combine("data_batch_2.bin"), [3, 4], firstRecord: 2);
        DatasetFiles.WriteCifarBatch(_temp.Combine("data_batch_1.bin"), [0, 1], firstRecord: 0);
        DatasetFiles.WriteCifarBatch(_temp.Combine("data_batch_10.bin"), [9], firstRecord: 4);
        DatasetFiles.WriteCifarBatch(_temp.Combine("test_batch.bin"), [7, 8, 9]);

        var train = Cifar10.Load(_ml, _temp.Path, DatasetSplit.Train);
        var test = Cifar10.Load(_ml, _temp.Path, DatasetSplit.Test);

        Assert.Equal([3, 32, 32], ((VectorDataViewType)train.Schema["Features"].Type).Dimensions.ToArray());
        Assert.Equal(10UL, Assert.IsType<KeyDataViewType>(train.Schema["Label"].Type).Count);
        Assert.Equal(Cifar10.ClassNames, DatasetFiles.KeyNames(train));
        Assert.Equal([1u, 2u, 4u, 5u, 10u], train.GetColumn<uint>("Label"));
        var features = train.GetColumn<float[]>("Features").ToArray();
        for (int r = 0; r < features.Length; r++)
        {
            Assert.Equal(3072, features[r].Length);
            Assert.Equal(r % 256 * (1f / 255), features[r][0]);
            Assert.Equal((r + 1024) % 256 * (1f / 255), features[r][1024]); // the G plane starts at 1024
        }
        Assert.Equal([8u, 9u, 10u], test.GetColumn<uint>("Label"));
    }

    [Fact]
    public void TakesClassNamesFromBatchesMetaAndAcceptsExplicitFilesAndTheArchiveFolder()
    {
        string inner = Directory.CreateDirectory(_temp.Combine("cifar-10-batches-bin")).FullName;
        string[] custom = ["a", "b", "c"];
        File.WriteAllLines(Path.Combine(inner, Cifar10.MetaFileName), [.. custom, ""]);
        string batch = DatasetFiles.WriteCifarBatch(Path.Combine(inner, "test_batch.bin"), [2, 0]);

        var fromArchiveFolder = Cifar10.Load(_ml, _temp.Path, DatasetSplit.Test);
        Assert.Equal(custom, DatasetFiles.KeyNames(fromArchiveFolder));
        Assert.Equal([3u, 1u], fromArchiveFolder.GetColumn<uint>("Label"));

        var explicitNames = Cifar10.Load(_ml, [batch], Cifar10.ClassNames);
        Assert.Equal(10UL, Assert.IsType<KeyDataViewType>(explicitNames.Schema["Label"].Type).Count);
    }

    [Fact]
    public void ErrorsNameTheFile()
    {
        string good = DatasetFiles.WriteCifarBatch(_temp.Combine("data_batch_1.bin"), [1, 2]);
        string truncated = _temp.Combine("data_batch_2.bin");
        File.WriteAllBytes(truncated, File.ReadAllBytes(good)[..^10]);
        var size = Assert.Throws<InvalidDataException>(() => Cifar10.Load(_ml, _temp.Path, DatasetSplit.Train));
        Assert.Contains(truncated, size.Message);
        Assert.Contains("3073", size.Message);

        File.Delete(truncated);
        string badLabel = DatasetFiles.WriteCifarBatch(_temp.Combine("data_batch_3.bin"), [4, 10]);
        var lazy = Cifar10.Load(_ml, _temp.Path, DatasetSplit.Train);
        var label = Assert.Throws<InvalidDataException>(() => lazy.GetColumn<uint>("Label").ToArray());
        Assert.Contains(badLabel, label.Message);
        Assert.Contains("record 1 has label 10", label.Message);

        Assert.Contains("test_batch.bin", Assert.Throws<FileNotFoundException>(() => Cifar10.Load(_ml, _temp.Path, DatasetSplit.Test)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => Cifar10.Load(_ml, _temp.Combine("nowhere"), DatasetSplit.Test));
        string empty = _temp.Combine("empty.bin");
        File.WriteAllBytes(empty, []);
        Assert.Contains(empty, Assert.Throws<InvalidDataException>(() => Cifar10.Load(_ml, [empty])).Message);
    }
}
