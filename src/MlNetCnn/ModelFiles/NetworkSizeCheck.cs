using System.Runtime.InteropServices;

namespace MlNetCnn.Persistence;

/// <summary>
/// Bounds the network a model record asks for before it is built. Some networks grow with the image (a fully
/// connected layer over the flattened features: LeNet-5, AlexNetSmall, Mlp), so a forged height or width would have
/// the network allocate and initialize far more than the file's weights hold. A network's size is at most linear in
/// the image area, so two builds at small sizes measure its growth and bound the size at the recorded one; a bound far
/// above the weights is refused. Networks that pool adaptively (<see cref="CnnArchitecture.SizeGrowsWithImage"/> false)
/// and records no larger than the small builds skip the check. Before any build, the parameterized built-ins
/// (<c>AirbenchNet-{width}</c>, <c>ResNet9-{width}</c>, <c>Mlp{hidden}</c>, <c>CnnNFeature{n}</c>, <c>ResNet-a-b-c-d</c>)
/// compute a lower bound of their size from the name alone: a forged width cannot have a network allocated either.
/// </summary>
internal static class NetworkSizeCheck
{
    private const int ProbeSide = 64;

    /// <summary>Throws <see cref="InvalidDataException"/> when <paramref name="architecture"/> at this size would hold
    /// far more than <paramref name="weightValues"/> values.</summary>
    public static void Check(CnnArchitecture architecture, int channels, int height, int width, int classes, long weightValues)
    {
        double least = architecture.LeastStateValues(channels, height, width, classes);
        if (least > weightValues)
            throw new InvalidDataException($"architecture {architecture.Name} at {channels}×{height}×{width} with "
                + $"{classes} classes holds at least {least:N0} values, but the weights hold {weightValues:N0}: the "
                + "architecture name does not belong to these weights.");
        if (!architecture.SizeGrowsWithImage)
            return;
        int side = Math.Max(ProbeSide, architecture.MinimumImageSize);
        double area = (double)height * width;
        if (area <= (double)side * side)
            return;
        int h1 = Math.Min(height, side), w1 = Math.Min(width, side);
        // A custom network that cannot be built at another size cannot be measured: it is built as recorded.
        if (Values(architecture, channels, h1, w1, classes) is not { } small)
            return;
        // With size = a + b·area (a, b ≥ 0), size(area) ≤ small · area / area1.
        if (small * area / ((double)h1 * w1) <= 4.0 * weightValues)
            return;
        int h2 = Math.Min(height, 2 * side), w2 = Math.Min(width, 2 * side);
        if (Values(architecture, channels, h2, w2, classes) is not { } larger)
            return;
        double perPixel = (larger - small) / ((double)h2 * w2 - (double)h1 * w1);
        double estimate = larger + perPixel * (area - (double)h2 * w2);
        if (estimate > 2.0 * weightValues + 1024)
            throw new InvalidDataException($"architecture {architecture.Name} at {channels}×{height}×{width} would "
                + $"hold about {estimate:N0} values, but the weights hold {weightValues:N0}: the recorded image size "
                + "does not belong to these weights.");
    }

    private static double? Values(CnnArchitecture architecture, int channels, int height, int width, int classes)
    {
        try
        {
            using var module = architecture.CreateModule(channels, height, width, classes);
            return module.state_dict().Values.Sum(t => (double)t.numel());
        }
        catch (Exception e) when (e is ArgumentException or ExternalException)
        {
            return null;
        }
    }
}
