using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>What Mixup and CutMix do to a batch: which pixels come from which image, and the label shares that go with them.</summary>
public sealed class BatchMixerTests
{
    // Image i is filled with the value i + 1, so every mixed pixel tells which images it came from.
    private static Tensor Numbered(int count, int height = 12, int width = 10)
        => arange(1, count + 1, dtype: float32).reshape(count, 1, 1, 1).expand(count, 3, height, width).contiguous();

    [Fact]
    public void CutMixPastesOneRectangleOfThePartnerAndTheShareIsTheAreaLeft()
    {
        using var scope = NewDisposeScope();
        var images = Numbered(8);
        var mixer = new BatchMixer(MixingOptions.CutMix());
        int pasted = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            var mixed = mixer.Apply(images, new Random(seed)) ?? throw new Xunit.Sdk.XunitException("Probability 1 must mix every batch.");
            long[] partners = mixed.Partners.data<long>().ToArray();
            Assert.Equal(Enumerable.Range(0, 8).Select(i => (long)i), partners.Order());
            for (int i = 0; i < 8; i++)
            {
                var image = mixed.Images[i];
                float own = i + 1, partner = partners[i] + 1;
                var fromPartner = image.ne(own);
                // Every pixel is its own or its partner's, and the partner's pixels form one rectangle, the same in every channel.
                Assert.True(image.eq(own).logical_or(image.eq(partner)).all().item<bool>());
                if (own != partner)
                {
                    double partnerShare = fromPartner.to_type(float32).mean().item<float>();
                    Assert.Equal(1 - mixed.Share, partnerShare, 6);
                    var rows = fromPartner[0].any(1).nonzero().flatten().data<long>().ToArray();
                    var columns = fromPartner[0].any(0).nonzero().flatten().data<long>().ToArray();
                    Assert.Equal(rows.Length * columns.Length, fromPartner[0].sum().item<long>());
                    if (rows.Length > 0)
                        pasted++;
                }
            }
            Assert.InRange(mixed.Share, 0, 1);
        }
        Assert.True(pasted > 50, $"only {pasted} images had anything pasted");
        Assert.True(images.eq(Numbered(8)).all().item<bool>(), "the input batch must not be modified");
    }

    [Fact]
    public void MixupBlendsEachImageWithItsPartnerBySharesThatSumToOne()
    {
        using var scope = NewDisposeScope();
        var images = Numbered(6);
        var mixed = new BatchMixer(MixingOptions.Mixup(0.4)).Apply(images, new Random(5))!.Value;
        var expected = images * (float)mixed.Share + images.index_select(0, mixed.Partners) * (float)(1 - mixed.Share);
        Assert.True(mixed.Images.allclose(expected, rtol: 0, atol: 1e-6));
        Assert.InRange(mixed.Share, 0, 1);
    }

    [Fact]
    public void TheProbabilityIsTheShareOfBatchesMixedAndBothMethodsAreUsedWhenBothAreSet()
    {
        using var scope = NewDisposeScope();
        var images = Numbered(4);
        var mixer = new BatchMixer(new MixingOptions { MixupAlpha = 0.4, CutMixAlpha = 1, Probability = 0.3 });
        int unmixed = 0, cutMix = 0, mixup = 0;
        for (int seed = 0; seed < 1000; seed++)
        {
            if (mixer.Apply(images, new Random(seed)) is not { } mixed)
                unmixed++;
            else if (mixed.Images.frac().eq(0).all().item<bool>()) // pasted pixels keep whole values; blends almost never do
                cutMix++;
            else
                mixup++;
        }
        Assert.InRange(unmixed, 640, 760);
        Assert.InRange(cutMix, 110, 190);
        Assert.InRange(mixup, 110, 190);
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(1.0)]
    [InlineData(3.0)]
    public void SharesFollowTheBetaDistribution(double alpha)
    {
        var random = new Random(11);
        var draws = Enumerable.Range(0, 40_000).Select(_ => BatchMixer.Beta(random, alpha)).ToArray();
        double mean = draws.Average(), variance = draws.Select(d => (d - mean) * (d - mean)).Average();
        Assert.All(draws, d => Assert.InRange(d, 0, 1));
        Assert.Equal(0.5, mean, 0.01);
        Assert.Equal(1 / (4 * (2 * alpha + 1)), variance, 0.005); // Beta(α, α): 1 / (4 (2α + 1))
    }
}
