using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Platform;

/// <summary>
/// Tensor arithmetic with a number whose native <see cref="Scalar"/> stays alive until libtorch returns. TorchSharp
/// 0.107 wraps such a number in a temporary <see cref="Scalar"/> and passes only its handle: a garbage collection that
/// another thread starts meanwhile can free it mid-call (docs/known-issues.md), which a busy server does (libtorch's
/// c10 errors under load in the classifier service's test-time averaging).
/// </summary>
internal static class HeldScalars
{
    /// <summary><paramref name="x"/> · <paramref name="factor"/>.</summary>
    public static Tensor Times(this Tensor x, double factor)
    {
        using Scalar held = factor;
        return x.mul(held);
    }

    /// <summary><paramref name="x"/> + <paramref name="value"/>.</summary>
    public static Tensor Plus(this Tensor x, double value)
    {
        using Scalar held = value;
        return x.add(held);
    }
}
