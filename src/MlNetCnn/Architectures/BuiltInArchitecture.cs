namespace MlNetCnn.Architectures;

/// <summary>
/// A built-in architecture whose too-small-input error names its minimum size and the variant to use instead.
/// Each family derives one and builds its module.
/// </summary>
internal abstract class BuiltInArchitecture(string name, int minimumImageSize, string? smallInputAdvice = null) : CnnArchitecture(name)
{
    public override int MinimumImageSize => minimumImageSize;

    protected override string SmallInputAdvice => smallInputAdvice ?? base.SmallInputAdvice;
}
