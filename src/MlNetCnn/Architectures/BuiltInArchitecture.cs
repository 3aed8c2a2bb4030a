namespace MlNetCnn.Architectures;

/// <summary>
/// A built-in architecture whose too-small-input error names its minimum size and the variant to use instead.
/// Each family derives one and builds its module.
/// </summary>
internal abstract class BuiltInArchitecture(string name, int minimumImageSize, string? smallInputAdvice = null) : CnnArchitecture(name)
{
    public override int MinimumImageSize => minimumImageSize;

    // Most families pool adaptively before their classifier; those that flatten a fixed-size map override this.
    internal override bool SizeGrowsWithImage => false;

    internal override bool ComputesOnChannelsLastMemory => true;

    protected override string SmallInputAdvice => smallInputAdvice ?? base.SmallInputAdvice;
}
