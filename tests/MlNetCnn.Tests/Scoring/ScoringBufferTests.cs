namespace MlNetCnn.Tests;

/// <summary>A scoring cursor's buffers stay bounded whatever the scoring batch size says (a loaded model's included).</summary>
public sealed class ScoringBufferTests
{
    [Fact]
    public void LargeRowsGetFewerRowsPerBatch()
    {
        // 3×224×224 images: 256 rows fit, a million do not.
        long values = 3 * 224 * 224 + 1000;
        int rows = CnnScoringDataView.BatchCapacity(1_000_000, values, null);
        Assert.True(rows * values <= CnnScoringDataView.MaxBufferedValues);
        Assert.True(rows >= 256);
        Assert.Equal(256, CnnScoringDataView.BatchCapacity(256, values, null));
    }

    [Fact]
    public void NoMoreRowsThanTheDataHoldsAndAtLeastOne()
    {
        Assert.Equal(10, CnnScoringDataView.BatchCapacity(16_384, 784, 10));
        Assert.Equal(1, CnnScoringDataView.BatchCapacity(16_384, long.MaxValue / 2, null));
        Assert.Equal(256, CnnScoringDataView.BatchCapacity(256, 784, 0));
    }
}
