namespace MlNetCnn;

/// <summary>The datasets <see cref="DatasetDownloader"/> knows where to fetch.</summary>
public enum KnownDataset
{
    /// <summary>MNIST digits: the four IDX .gz files, read with <see cref="IdxDataset"/>.</summary>
    Mnist,

    /// <summary>Fashion-MNIST: the four IDX .gz files, read with <see cref="IdxDataset"/> and <see cref="MnistVariant.FashionMnist"/>.</summary>
    FashionMnist,

    /// <summary>CIFAR-10, binary version: <c>cifar-10-binary.tar.gz</c>, extracted to <c>cifar-10-batches-bin</c> and
    /// read with <see cref="Cifar10"/>.</summary>
    Cifar10,
}
