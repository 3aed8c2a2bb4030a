using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Invalid Lookahead settings are refused, naming the setting, when the trainer is created and when Fit starts.</summary>
public sealed class LookaheadOptionsValidationTests
{
    public static TheoryData<int, double, double, string> InvalidSettings => new()
    {
        { 0, 0.5, 3, "SyncPeriod" },
        { 5, 1, 3, "Decay" },
        { 5, -0.1, 3, "Decay" },
        { 5, double.NaN, 3, "Decay" },
        { 5, 0.5, -1, "DecayPower" },
        { 5, 0.5, double.PositiveInfinity, "DecayPower" },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void AnInvalidSettingIsRefusedAtCreationAndAtFit(int syncPeriod, double decay, double decayPower, string setting)
    {
        var ml = new MLContext(seed: 1);
        var lookahead = new LookaheadOptions { SyncPeriod = syncPeriod, Decay = decay, DecayPower = decayPower };
        var atCreation = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, new CnnTrainerOptions { Lookahead = lookahead }));
        Assert.Contains($"CnnTrainerOptions.Lookahead.{setting} must", atCreation.Message);

        var options = new CnnTrainerOptions { Epochs = 1, Lookahead = new LookaheadOptions() };
        var trainer = new CnnTrainer(ml, options);
        options.Lookahead = lookahead;
        var atFit = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(8, 2, 1))));
        Assert.Contains($"CnnTrainerOptions.Lookahead.{setting} must", atFit.Message);
    }

    [Fact]
    public void TheDefaultsAreAirbenchs()
    {
        var defaults = new LookaheadOptions();
        Assert.Equal(5, defaults.SyncPeriod);
        Assert.Equal(Math.Pow(0.95, 5), defaults.Decay);
        Assert.Equal(3, defaults.DecayPower);
        Assert.Same(defaults, new CnnTrainer(new MLContext(seed: 1), new CnnTrainerOptions { Lookahead = defaults }).Options.Lookahead);
    }
}
