using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// The slow weights of <see cref="LookaheadOptions"/>: a copy of every floating-point parameter and buffer of the
/// network (batch-norm running statistics too, as in a state_dict), blended with the trained weights every
/// <see cref="LookaheadOptions.SyncPeriod"/> steps and at the end of every epoch, after which the network continues
/// from the blend.
/// </summary>
internal sealed class LookaheadAveraging : IDisposable
{
    private readonly nn.Module _module;
    private readonly LookaheadOptions _options;
    private long _totalSteps;
    private readonly Dictionary<string, Tensor> _slow = new(StringComparer.Ordinal);
    private long _lastSyncStep;

    /// <summary>Copies the network's current weights as the slow weights.</summary>
    /// <param name="module">The network; its weights are the fast weights.</param>
    /// <param name="options">The averaging settings.</param>
    /// <param name="completedSteps">Optimization steps already done (a resumed run), where the slow and fast weights agree.</param>
    /// <param name="totalSteps">Optimization steps of the whole run.</param>
    public LookaheadAveraging(nn.Module module, LookaheadOptions options, long completedSteps, long totalSteps)
    {
        _module = module;
        _options = options;
        _totalSteps = Math.Max(1, totalSteps);
        _lastSyncStep = completedSteps;
        using var noGrad = no_grad();
        foreach (var (name, tensor) in module.state_dict())
        {
            if (tensor.is_floating_point())
                _slow.Add(name, tensor.detach().clone().DetachFromDisposeScope());
        }
    }

    /// <summary>Stretches the averaging's decay over <paramref name="totalSteps"/> (a time limit's new plan).</summary>
    public void SetTotalSteps(long totalSteps) => _totalSteps = Math.Max(1, totalSteps);

    /// <summary>Call after every optimization step; synchronizes every <see cref="LookaheadOptions.SyncPeriod"/> steps of the run.</summary>
    /// <param name="completedSteps">Optimization steps done so far in the run, this one included.</param>
    public void AfterStep(long completedSteps)
    {
        if (completedSteps % _options.SyncPeriod == 0)
            Synchronize(completedSteps);
    }

    /// <summary>
    /// Call at the end of every epoch: synchronizes when steps ran since the last synchronization, so the network holds
    /// the slow weights for evaluation, checkpoints and the returned model, and no step is discarded.
    /// </summary>
    /// <param name="completedSteps">Optimization steps done so far in the run.</param>
    public void EndEpoch(long completedSteps)
    {
        if (completedSteps != _lastSyncStep)
            Synchronize(completedSteps);
    }

    private void Synchronize(long completedSteps)
    {
        _lastSyncStep = completedSteps;
        double progress = Math.Min(1, (double)completedSteps / _totalSteps);
        double keep = _options.Decay * Math.Pow(progress, _options.DecayPower);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, fast) in _module.state_dict())
        {
            if (_slow.TryGetValue(name, out var slow))
            {
                slow.lerp_(fast, tensor(1 - keep, slow.dtype, slow.device));
                fast.copy_(slow);
            }
        }
    }

    public void Dispose()
    {
        foreach (var slow in _slow.Values)
            slow.Dispose();
        _slow.Clear();
    }
}
