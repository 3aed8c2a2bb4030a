using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace PixelPermutation;

/// <summary>
/// Shuffles the 28×28 pixels of every image with one fixed random permutation, as an ML.NET custom mapping: the
/// picture is destroyed for a human and for a convolution (neighbours are no longer neighbours), while a fully
/// connected layer, which never knew which pixels were adjacent, loses nothing.
/// </summary>
internal static class FixedPixelPermutation
{
    public const int Size = 28 * 28;

    /// <summary>The mapping from <c>Features</c> to <c>PermutedFeatures</c> with the permutation drawn from <paramref name="seed"/>.</summary>
    public static CustomMappingEstimator<Pixels, PermutedPixels> Estimator(MLContext ml, int seed)
    {
        int[] order = [.. Enumerable.Range(0, Size)];
        new Random(seed).Shuffle(order);
        return ml.Transforms.CustomMapping<Pixels, PermutedPixels>((input, output) =>
        {
            output.PermutedFeatures = new float[Size];
            for (int i = 0; i < Size; i++)
                output.PermutedFeatures[i] = input.Features[order[i]];
        }, contractName: null);
    }

    /// <summary>The input of the mapping: one grayscale 28×28 image.</summary>
    public sealed class Pixels
    {
        [VectorType(1, 28, 28)]
        public float[] Features { get; set; } = [];
    }

    /// <summary>The output: the same pixels in the permuted order, still shaped as an image.</summary>
    public sealed class PermutedPixels
    {
        [VectorType(1, 28, 28)]
        public float[] PermutedFeatures { get; set; } = [];
    }
}
