namespace MlNetCnn;

/// <summary>
/// Lookahead weight averaging (as in Keller Jordan's airbench): the trainer keeps a second, slow copy of the network's
/// weights and batch-norm statistics; every <see cref="SyncPeriod"/> optimization steps the slow copy moves towards the
/// trained (fast) weights and the network continues from the slow copy. The averaging grows stronger over the run, so
/// the last epochs average many steps: the network evaluated, checkpointed and returned after each epoch is the slow copy.
/// </summary>
/// <remarks>
/// At a synchronization after step <c>s</c> of <c>T</c>, with <c>rho = Decay × (s / T)^DecayPower</c>:
/// <c>slow = rho × slow + (1 − rho) × fast</c>, then <c>fast = slow</c>. The end of every epoch synchronizes too, so
/// the slow and fast weights agree at every epoch boundary (and a resumed run continues exactly).
/// </remarks>
public sealed class LookaheadOptions
{
    /// <summary>Optimization steps between two synchronizations, 1 or more. Default 5.</summary>
    public int SyncPeriod { get; set; } = 5;

    /// <summary>
    /// The largest share of the slow weights kept at a synchronization (reached at the end of the run), in [0, 1); 0 makes
    /// the averaging a no-op. Default 0.95⁵ (about 0.774): an average over roughly 5 × 5 recent steps at the end.
    /// </summary>
    public double Decay { get; set; } = Math.Pow(0.95, 5);

    /// <summary>
    /// How the share kept grows over the run: Decay × (progress)^DecayPower, 0 or more. Default 3: the network moves
    /// almost freely early on and is averaged strongly at the end; 0 keeps the share at <see cref="Decay"/> throughout.
    /// </summary>
    public double DecayPower { get; set; } = 3;

    /// <summary>A short description, e.g. for logs and the checkpoint fingerprint.</summary>
    /// <returns>The settings.</returns>
    public override string ToString() => $"lookahead (every {SyncPeriod} steps, decay {Decay:R}, power {DecayPower:R})";
}
