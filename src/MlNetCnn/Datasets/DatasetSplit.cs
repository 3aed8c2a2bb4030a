namespace MlNetCnn;

/// <summary>Which part of a dataset that ships its own training and test files to read.</summary>
public enum DatasetSplit
{
    /// <summary>The training files (MNIST <c>train-*</c>, CIFAR-10 <c>data_batch_1..5.bin</c>).</summary>
    Train,

    /// <summary>The test files (MNIST <c>t10k-*</c>, CIFAR-10 <c>test_batch.bin</c>).</summary>
    Test,
}
