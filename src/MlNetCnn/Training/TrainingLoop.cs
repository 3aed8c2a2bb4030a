using System.Diagnostics;
using Microsoft.ML.Runtime;
using MlNetCnn.Persistence;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Mini-batch training: a seeded reshuffle every epoch, cross-entropy (with optional label smoothing and batch mixing), the chosen
/// optimizer and learning-rate schedule, gradient clipping, validation, early stopping and checkpoints; with
/// <see cref="MixedPrecisionReplica"/> the forward and backward passes run in bfloat16 and everything else stays on the
/// float32 network. A batch source (cached or streamed images) writes each batch straight into two preallocated
/// tensors, and every tensor a step creates is freed by its dispose scope, so native memory stays flat however long
/// training runs.
/// </summary>
internal sealed class TrainingLoop : IDisposable
{
    internal const string LastCheckpointName = "checkpoint-last.cnnckpt";
    internal const string BestCheckpointName = "checkpoint-best.cnnckpt";

    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly NetworkCall _network;
    private readonly MixedPrecisionReplica? _mixedPrecision;
    private readonly InputStandardization _standardization;
    private readonly CnnTrainerOptions _options;
    private readonly IChannel _channel;
    private readonly Device _device;
    private readonly int _seed;
    private readonly string _fingerprint;
    private readonly OptimizerHelper _optimizer;
    private readonly TrainingState _state = new();
    private readonly TrainingMetric _watchedMetric;
    private readonly ImageAugmenter? _augmenter;
    private readonly BatchMixer? _mixer;
    private readonly BackboneFineTuning? _fineTuning;
    private readonly ParameterGroups _parameterGroups;
    private LookaheadAveraging? _lookahead;
    private byte[]? _bestWeights;

    // A loss this many times that of an untrained network (ln of the class count, or the run's first loss if larger) has exploded.
    private const double DivergedLossFactor = 10_000;
    private double? _lossLimit;

    private const int UsabilityCheckImages = 8;

    /// <summary>Images in the last batch written into the batch tensors.</summary>
    private int _lastBatchCount;

    public TrainingLoop(nn.Module<Tensor, Tensor> model, InputStandardization standardization, CnnTrainerOptions options,
        IChannel channel, Device device, int seed, string fingerprint, bool hasValidation, ImageAugmenter? augmenter,
        MixedPrecisionReplica? mixedPrecision)
    {
        _mixedPrecision = mixedPrecision;
        _augmenter = augmenter;
        _mixer = options.Mixing is { } mixing ? new BatchMixer(mixing) : null;
        _model = model;
        _network = NetworkCall.For(model, options.Architecture, device);
        _standardization = standardization;
        _options = options;
        _channel = channel;
        _device = device;
        _seed = seed;
        _fingerprint = fingerprint;
        _fineTuning = BackboneFineTuning.Create(model, options);
        _parameterGroups = ParameterGroups.Create(model, options, _fineTuning);
        _optimizer = _parameterGroups.CreateOptimizer(options);
        _watchedMetric = options.EarlyStopping?.Metric ?? (hasValidation ? TrainingMetric.ValidationLoss : TrainingMetric.TrainLoss);
        if (options.CheckpointDirectory is { } directory && TrainingCheckpoint.RemoveStaleTemporaryFiles(directory) is > 0 and var removed)
            channel.Info(MessageSensitivity.None,
                $"CnnTrainer: removed {removed} temporary checkpoint files left by an interrupted run in {directory}.");
    }

    public IReadOnlyList<EpochSummary> History => _state.History;

    /// <summary>Continues from a checkpoint written by an identical run (same options, data shape and seed).</summary>
    public void Restore(TrainingCheckpoint checkpoint)
    {
        if (checkpoint.Fingerprint != _fingerprint)
            throw new InvalidOperationException("The checkpoint was written by a different run and cannot be resumed "
                + $"here.{Environment.NewLine}checkpoint: {checkpoint.Fingerprint}{Environment.NewLine}this run:   "
                + $"{_fingerprint}");
        checkpoint.CheckFits(_model, _optimizer, _options.Architecture.Name);
        // The plan sets the schedule's length and the epochs still to train: only a time limit makes one, within Epochs.
        if (checkpoint.State.PlannedEpochs > (_options.TimeLimit is null ? 0 : _options.Epochs))
            throw checkpoint.Invalid($"its time limit planned {checkpoint.State.PlannedEpochs} epochs, but this run "
                + $"{(_options.TimeLimit is null ? "has no time limit" : $"trains at most {_options.Epochs}")}.");
        ModuleWeights.Deserialize(_model, checkpoint.Weights);
        using (var stream = new BinaryReader(new MemoryStream(checkpoint.OptimizerState, writable: false)))
            _optimizer.load_state_dict(stream);
        using (var randomState = tensor(checkpoint.RandomState, dtype: uint8))
            set_rng_state(randomState);
        var restored = checkpoint.State;
        _state.CompletedEpochs = restored.CompletedEpochs;
        _state.Step = restored.Step;
        _state.PlateauScale = restored.PlateauScale;
        _state.PlateauBest = restored.PlateauBest;
        _state.PlateauBadEpochs = restored.PlateauBadEpochs;
        _state.BestMetric = restored.BestMetric;
        _state.BestEpoch = restored.BestEpoch;
        _state.EpochsWithoutImprovement = restored.EpochsWithoutImprovement;
        _state.PlannedEpochs = restored.PlannedEpochs;
        _state.History.AddRange(restored.History);
        _bestWeights = checkpoint.BestWeights;
        if (_options.CheckpointDirectory is { } directory && checkpoint.ReconcileBest(Path.Combine(directory, BestCheckpointName)) is { } repaired)
            _channel.Warning(MessageSensitivity.None, $"CnnTrainer: {repaired}");
        _channel.Info(MessageSensitivity.None, $"CnnTrainer: resumed after epoch {restored.CompletedEpochs} (step {restored.Step}).");
    }

    /// <summary>The epochs this run trains: all <see cref="CnnTrainerOptions.Epochs"/>, or as many as
    /// <see cref="CnnTrainerOptions.TimeLimit"/> planned.</summary>
    private int PlannedEpochs => _state.PlannedEpochs > 0 ? _state.PlannedEpochs : _options.Epochs;

    /// <summary>Trains the planned epochs; <paramref name="fitClock"/> started with <c>Fit</c>, which the time limit counts from.</summary>
    public void Run(ITrainingBatchSource train, ITrainingBatchSource? validation, ImageShape shape, Stopwatch fitClock)
    {
        int batchSize = Math.Min(_options.BatchSize, train.Count);
        int stepsPerEpoch = (train.Count + batchSize - 1) / batchSize;
        using var batch = new BatchTensors(batchSize, shape);
        var total = Stopwatch.StartNew();
        int epochsThisRun = 0;
        var budget = _options.TimeLimit is { } limit ? new EpochBudget(limit, () => fitClock.Elapsed, _options.Epochs) : null;
        // Created here, after Restore: the slow and fast weights agree at every epoch boundary.
        _lookahead = _options.Lookahead is { } lookahead
            ? new LookaheadAveraging(_model, lookahead, _state.Step, (long)stepsPerEpoch * PlannedEpochs) : null;

        for (int epoch = _state.CompletedEpochs + 1; epoch <= PlannedEpochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var (loss, accuracy, learningRate) = TrainEpoch(train, batch, epoch, stepsPerEpoch, total, epochsThisRun,
                budget is not null && _state.PlannedEpochs == 0 ? (budget, validation?.Count ?? 0) : null);
            _lookahead?.EndEpoch(_state.Step);
            EnsureUsable(epoch, batch);
            double trainSeconds = clock.Elapsed.TotalSeconds;
            var (validationLoss, validationAccuracy) = validation is null ? ((double?)null, (double?)null) : Evaluate(validation, batch);
            var summary = new EpochSummary(epoch, loss, accuracy, validationLoss, validationAccuracy, learningRate,
                clock.Elapsed, train.Count / trainSeconds);
            _state.History.Add(summary);
            _state.CompletedEpochs = epoch;
            epochsThisRun++;
            _channel.Info(MessageSensitivity.None, $"CnnTrainer {_options.Architecture.Name}: {summary}");

            UpdatePlateau(summary);
            bool improved = TrackBest(summary);
            bool stop = _options.EarlyStopping is { } early && _state.EpochsWithoutImprovement >= early.Patience;
            // The plan is part of the checkpoint below, so the epoch that ends the run writes its last checkpoint.
            if (budget != null)
                Replan(budget.PlanAfterEpoch(epoch, clock.Elapsed.TotalSeconds, PlannedEpochs), budget, stepsPerEpoch, clock.Elapsed.TotalSeconds);
            WriteCheckpoints(epoch, improved, force: stop || epoch == PlannedEpochs);
            Report(epoch, stepsPerEpoch, stepsPerEpoch, loss, accuracy, learningRate, summary.ImagesPerSecond, total, epochsThisRun, summary);
            if (stop)
            {
                _channel.Info(MessageSensitivity.None,
                    $"CnnTrainer: early stopping after epoch {epoch}; the best epoch was {_state.BestEpoch} "
                    + $"({_watchedMetric} {_state.BestMetric:G5}).");
                break;
            }
        }

        if (_options.EarlyStopping is { RestoreBestWeights: true } && _bestWeights != null && _state.BestEpoch != _state.CompletedEpochs)
        {
            ModuleWeights.Deserialize(_model, _bestWeights);
            _channel.Info(MessageSensitivity.None, $"CnnTrainer: restored the weights of epoch {_state.BestEpoch}.");
        }
        _fineTuning?.Release();
        _model.eval();
    }

    /// <summary>Adopts a new plan of the time limit: the schedule and Lookahead stretch over it from now on.</summary>
    private void Replan(int epochs, EpochBudget budget, int stepsPerEpoch, double epochSeconds)
    {
        if (epochs == _state.PlannedEpochs)
            return;
        _state.PlannedEpochs = epochs;
        _lookahead?.SetTotalSteps((long)stepsPerEpoch * epochs);
        _channel.Info(MessageSensitivity.None, $"CnnTrainer: time limit {budget.Limit:g}: {epochs} epochs planned (about {epochSeconds:N0} s each).");
    }

    // firstPlan: with a time limit and no plan yet, the budget and the validation images, to plan from the first steps' speed.
    private (double Loss, double Accuracy, double LearningRate) TrainEpoch(ITrainingBatchSource train,
        BatchTensors batch, int epoch, int stepsPerEpoch, Stopwatch total, int epochsThisRun,
        (EpochBudget Budget, int ValidationCount)? firstPlan)
    {
        // The first step warms libtorch's kernels up, so the speed is timed over the steps after it.
        int timedSteps = Math.Clamp(stepsPerEpoch / 5, 2, Math.Max(2, stepsPerEpoch - 2));
        var afterFirstStep = TimeSpan.Zero;
        _model.train();
        _fineTuning?.BeginEpoch(epoch);
        // The order depends only on the seed and the epoch, so a resumed run shuffles exactly as an uninterrupted one.
        using var stream = train.Read(new Random(unchecked(_seed * 7919 + epoch)), batch, _options.CancellationToken);
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        double lossSum = 0, learningRate = 0;
        double correct = 0; // with mixing, each image's two labels count by their shares
        int seen = 0;
        for (int b = 0; b < stepsPerEpoch; b++)
        {
            _options.CancellationToken.ThrowIfCancellationRequested();
            int count = stream.Next();
            if (count == 0)
                throw new InvalidOperationException($"The training data ended after {seen} of {train.Count} images in "
                    + $"epoch {epoch}: it must return the same rows on every pass.");
            _lastBatchCount = count;
            learningRate = CurrentLearningRate(stepsPerEpoch);
            int groupIndex = 0;
            foreach (var group in _optimizer.ParamGroups)
                group.LearningRate = learningRate * _parameterGroups.Factor(groupIndex++, epoch);

            using (NewDisposeScope())
            {
                var (images, labels) = batch.Take(count);
                if (_augmenter != null)
                    images = _augmenter.Apply(images, new Random(unchecked(_seed * 31 + (int)_state.Step)), epoch, batch.Rows[..count]);
                var mixed = _mixer?.Apply(images, new Random(unchecked(_seed * 53 + (int)_state.Step)));
                var input = _standardization.Apply(mixed?.Images ?? images).to(_device);
                var logits = _mixedPrecision?.Forward(input) ?? _network.Forward(input);
                var target = labels.to(_device);
                var loss = mixed?.Loss(logits, target, _options.LabelSmoothing)
                    ?? nn.functional.cross_entropy(logits, target, label_smoothing: _options.LabelSmoothing);
                float lossValue = loss.item<float>();
                // Stop before a non-finite or exploding loss reaches the weights: the model (and the last checkpoint)
                // stay usable. This loss also checks the previous step's weights; the epoch's last step is checked in Run.
                _lossLimit ??= DivergedLossFactor * Math.Max(Math.Log(logits.shape[1]), lossValue);
                if (!float.IsFinite(lossValue))
                    throw Diverged($"the loss became {lossValue} at epoch {epoch}, batch {b + 1} of {stepsPerEpoch}");
                if (lossValue > _lossLimit)
                    throw Diverged($"the loss reached {lossValue:G3} at epoch {epoch}, batch {b + 1} of "
                        + $"{stepsPerEpoch}, over {DivergedLossFactor:N0} times the loss of an untrained network");
                _optimizer.zero_grad();
                loss.backward();
                _mixedPrecision?.CopyGradientsToMaster();
                if (_options.GradientClipNorm is { } maxNorm)
                    nn.utils.clip_grad_norm_(_model.parameters().Where(p => p.requires_grad), maxNorm);
                _optimizer.step();
                _lookahead?.AfterStep(_state.Step + 1);
                lossSum += lossValue * count;
                var predicted = logits.argmax(1);
                correct += mixed?.Correct(predicted, target) ?? predicted.eq(target).sum().item<long>();
            }
            _state.Step++;
            seen += count;
            if (firstPlan is { } plan && b + 2 < stepsPerEpoch)
            {
                if (b == 0)
                    afterFirstStep = clock.Elapsed;
                else if (b == timedSteps)
                {
                    double secondsPerStep = (clock.Elapsed - afterFirstStep).TotalSeconds / timedSteps;
                    // Scoring an image costs about a third of training on it, once per test-time view.
                    double validationShare =
                        plan.ValidationCount * TestTimeAugmenter.Views(_options.ValidationTestTimeAugmentation
                            ?? _options.TestTimeAugmentation) / (3.0 * train.Count);
                    double epochSeconds = secondsPerStep * stepsPerEpoch * (1 + validationShare);
                    Replan(plan.Budget.Plan(epoch - 1 + (b + 1.0) / stepsPerEpoch, epochSeconds), plan.Budget, stepsPerEpoch, epochSeconds);
                }
            }
            if (_options.Progress != null && b + 1 < stepsPerEpoch && IsProgressDue(b, clock.Elapsed - lastReport))
            {
                lastReport = clock.Elapsed;
                Report(epoch, b + 1, stepsPerEpoch, lossSum / seen, correct / seen, learningRate,
                    seen / clock.Elapsed.TotalSeconds, total, epochsThisRun, null);
            }
        }
        if (stream.QueueReport is { } report)
            _channel.Info(MessageSensitivity.None, $"CnnTrainer: epoch {epoch}: {report}.");
        return (lossSum / train.Count, correct / train.Count, learningRate);
    }

    private static InvalidOperationException Diverged(string what) => new(
        $"Training diverged: {what}. " +
        "Lower LearningRate, set GradientClipNorm, check the images for NaN or infinite values, or, if none of that is the cause, " +
        "retry with TorchRuntime.UseOneDnn = false (or MLNETCNN_ONEDNN=0): libtorch's oneDNN CPU kernels turn some small networks' losses NaN.");

    /// <summary>
    /// Every step's loss checks the weights the step before left; the epoch's last step is checked here, before a
    /// checkpoint is written: the weights must be finite, and the network, used as it will be for scoring (evaluation
    /// mode), must give finite outputs for a few training images: finite weights can still be garbage (one Adam step at a
    /// rate of 1e30 moves every weight by 1e30). One small forward pass per epoch.
    /// </summary>
    private void EnsureUsable(int epoch, BatchTensors batch)
    {
        var bad = ModuleWeights.NonFinite(_model);
        if (bad.Count > 0)
            throw Diverged($"the last step of epoch {epoch} left NaN or infinite values in "
                + $"{string.Join(", ", bad.Take(3))}{(bad.Count > 3 ? $" and {bad.Count - 3} more" : "")}; no "
                + "checkpoint of it was written");
        _model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            // Garbage weights spoil every image's outputs, so a few images tell as well as a batch, for less: the
            // first images of the epoch's last batch, still in the batch tensor (streamed data is not read again).
            var (images, _) = batch.Take(Math.Min(_lastBatchCount, UsabilityCheckImages));
            if (!_network.Forward(_standardization.Apply(images).to(_device)).isfinite().all().item<bool>())
                throw Diverged($"after epoch {epoch} the network's outputs are NaN or infinite (its weights are finite "
                    + "but far too large); no checkpoint of it was written");
        }
        finally
        {
            _model.train();
        }
    }

    private double CurrentLearningRate(int stepsPerEpoch)
    {
        double rate = _options.LearningRateSchedule.GetLearningRate(_options.LearningRate, _state.Step, stepsPerEpoch, PlannedEpochs);
        if (_options.LearningRateSchedule is LearningRateSchedule.ReduceOnPlateauSchedule plateau)
            rate = Math.Max(rate * _state.PlateauScale, plateau.MinimumLearningRate);
        return rate;
    }

    private void UpdatePlateau(EpochSummary summary)
    {
        if (_options.LearningRateSchedule is not LearningRateSchedule.ReduceOnPlateauSchedule plateau)
            return;
        double value = summary.ValidationLoss ?? summary.TrainLoss;
        // PyTorch's ReduceLROnPlateau in 'min' mode with a relative threshold.
        if (double.IsNaN(_state.PlateauBest) || value < _state.PlateauBest * (1 - plateau.Threshold))
        {
            _state.PlateauBest = value;
            _state.PlateauBadEpochs = 0;
        }
        else if (++_state.PlateauBadEpochs > plateau.Patience)
        {
            _state.PlateauScale *= plateau.Factor;
            _state.PlateauBadEpochs = 0;
            _channel.Info(MessageSensitivity.None,
                "CnnTrainer: plateau, learning rate now "
                + $"{Math.Max(_options.LearningRate * _state.PlateauScale, plateau.MinimumLearningRate):G3}.");
        }
    }

    /// <summary>Updates the best epoch by the watched metric; returns true when this epoch is the new best.</summary>
    private bool TrackBest(EpochSummary summary)
    {
        double value = TrainingMetrics.Value(summary, _watchedMetric);
        if (TrainingMetrics.Improves(_watchedMetric, value, _state.BestMetric, _options.EarlyStopping?.MinDelta ?? 0))
        {
            _state.BestMetric = value;
            _state.BestEpoch = summary.Epoch;
            _state.EpochsWithoutImprovement = 0;
            if (_options.EarlyStopping is { RestoreBestWeights: true })
                _bestWeights = ModuleWeights.Serialize(_model);
            return true;
        }
        _state.EpochsWithoutImprovement++;
        return false;
    }

    private void WriteCheckpoints(int epoch, bool improved, bool force)
    {
        if (_options.CheckpointDirectory is not { } directory)
            return;
        bool periodic = force || epoch % _options.CheckpointEveryEpochs == 0;
        if (!periodic && !improved)
            return;
        var checkpoint = CreateCheckpoint();
        if (periodic)
            checkpoint.Save(Path.Combine(directory, LastCheckpointName));
        if (improved)
            checkpoint.Save(Path.Combine(directory, BestCheckpointName));
    }

    private TrainingCheckpoint CreateCheckpoint()
    {
        using var optimizerState = new MemoryStream();
        using (var writer = new BinaryWriter(optimizerState, System.Text.Encoding.UTF8, leaveOpen: true))
            _optimizer.save_state_dict(writer);
        using var randomState = get_rng_state();
        return new TrainingCheckpoint
        {
            Fingerprint = _fingerprint,
            Mean = _standardization.Mean,
            Std = _standardization.Std,
            State = _state,
            Weights = ModuleWeights.Serialize(_model),
            OptimizerState = optimizerState.ToArray(),
            RandomState = randomState.bytes.ToArray(),
            BestWeights = _bestWeights,
        };
    }

    // ProgressInterval N: every N batches. 0 (automatic): after the first batch, then whenever AutomaticProgressPeriod has
    // passed since the last report, so a live display moves at the same pace for a network of any speed.
    private bool IsProgressDue(int batchIndex, TimeSpan sinceLastReport)
        => _options.ProgressInterval > 0
            ? (batchIndex + 1) % _options.ProgressInterval == 0
            : batchIndex == 0 || sinceLastReport >= CnnTrainerOptions.AutomaticProgressPeriod;

    private void Report(int epoch, int batch, int batches, double loss, double accuracy, double learningRate,
        double imagesPerSecond, Stopwatch total, int epochsThisRun, EpochSummary? summary)
    {
        if (_options.Progress is null)
            return;
        double epochsDone = epochsThisRun + (summary is null ? (double)batch / batches : 0);
        double remainingEpochs = PlannedEpochs - (epoch - 1) - (double)batch / batches;
        var remaining = epochsDone > 0 ? TimeSpan.FromSeconds(total.Elapsed.TotalSeconds / epochsDone * remainingEpochs) : TimeSpan.Zero;
        _options.Progress.Report(new TrainingProgress(epoch, PlannedEpochs, batch, batches, loss, accuracy,
            learningRate, imagesPerSecond, remaining, summary));
    }

    private (double? Loss, double? Accuracy) Evaluate(ITrainingBatchSource data, BatchTensors batch)
    {
        _model.eval();
        using var noGrad = no_grad();
        double lossSum = 0;
        long correct = 0;
        using var stream = data.Read(null, batch, _options.CancellationToken);
        for (int count; (count = stream.Next()) > 0;)
        {
            using var scope = NewDisposeScope();
            var (images, labels) = batch.Take(count);
            var logProbabilities = TestTimeAugmenter.LogProbabilities(_network,
                _standardization.Apply(images).to(_device),
                _options.ValidationTestTimeAugmentation ?? _options.TestTimeAugmentation);
            var target = labels.to(_device);
            lossSum += nn.functional.nll_loss(logProbabilities, target, reduction: nn.Reduction.Sum).item<float>();
            correct += logProbabilities.argmax(1).eq(target).sum().item<long>();
        }
        _model.train();
        return (lossSum / data.Count, (double)correct / data.Count);
    }

    public void Dispose()
    {
        _lookahead?.Dispose();
        _optimizer.Dispose();
    }
}
