using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace ClassifierService;

/// <summary>The input row of every engine: the image file's path (the pipelines start from it) and an unused label.</summary>
public sealed class ImageRequest
{
    public string ImagePath { get; set; } = "";

    // The saved pipeline's MapValueToKey("Label") needs the column, not a value.
    public string Label { get; set; } = "";
}

/// <summary>The output row: the class probabilities, in the order of <see cref="ScoringModel.Classes"/>.</summary>
public sealed class ScoreRow
{
    public float[] Score { get; set; } = [];
}

/// <summary>One class and its probability.</summary>
public sealed record ClassScore(string Label, float Score);

/// <summary>What <c>POST /classify</c> answers: the best class and every class, highest first.</summary>
public sealed record Classification(string Label, float Score, IReadOnlyList<ClassScore> Scores);

/// <summary>
/// One loaded model and its pool of prediction engines. A request holds it (<see cref="TryAcquire"/> ...
/// <see cref="Release"/>) from its first to its last use, so a swap never mixes two models in one answer; the model's
/// native memory is freed when it has been retired and the last request holding it is done.
/// </summary>
public sealed class ScoringModel
{
    private readonly Func<PredictionEngine<ImageRequest, ScoreRow>> _createEngine;
    private readonly ConcurrentBag<PredictionEngine<ImageRequest, ScoreRow>> _idle = [];
    private readonly IDisposable[] _owned;
    private readonly int _maxIdle;
    private int _idleCount;
    // 1 for the host's own reference until it retires the model, plus one per request holding it; 0 = disposed.
    private int _references = 1;

    public ScoringModel(string source, ScoringEngine engine, IReadOnlyList<string> classes,
        Func<PredictionEngine<ImageRequest, ScoreRow>> createEngine, int maxIdleEngines, params IDisposable[] owned)
    {
        Source = source;
        Engine = engine;
        Classes = classes;
        _createEngine = createEngine;
        _maxIdle = maxIdleEngines;
        _owned = owned;
    }

    public string Source { get; }

    public ScoringEngine Engine { get; }

    public IReadOnlyList<string> Classes { get; }

    /// <summary>Counts the models the host has served, from 1; set by the host when it puts the model in service.</summary>
    public int Generation { get; internal set; }

    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>Takes a reference for one request; false once the model has been retired and released by all.</summary>
    public bool TryAcquire()
    {
        int current = Volatile.Read(ref _references);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
                return true;
            current = seen;
        }
        return false;
    }

    /// <summary>Gives back a request's reference (or the host's, when it retires the model).</summary>
    public void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0)
            DisposeEverything();
        else if (left < 0)
            throw new InvalidOperationException("ScoringModel released more often than acquired.");
    }

    /// <summary>Scores one image file, the caller holding a reference. One engine per concurrent call, never shared.</summary>
    public Classification Classify(string imagePath)
    {
        var engine = _idle.TryTake(out var idle) ? idle : _createEngine();
        if (idle is not null)
            Interlocked.Decrement(ref _idleCount);
        float[] scores;
        try
        {
            scores = engine.Predict(new ImageRequest { ImagePath = imagePath }).Score;
        }
        catch
        {
            // An engine that threw may hold a half-filled row: not worth reusing.
            engine.Dispose();
            throw;
        }
        if (Interlocked.Increment(ref _idleCount) <= _maxIdle)
            _idle.Add(engine);
        else
        {
            Interlocked.Decrement(ref _idleCount);
            engine.Dispose();
        }
        return ToClassification(scores);
    }

    private Classification ToClassification(float[] scores)
    {
        if (scores.Length != Classes.Count)
            throw new InvalidOperationException($"The model gave {scores.Length} scores for its {Classes.Count} classes.");
        var ranked = new ClassScore[scores.Length];
        for (int i = 0; i < scores.Length; i++)
            ranked[i] = new ClassScore(Classes[i], scores[i]);
        // Stable and NaN-safe: highest first, ties in class order.
        var ordered = ranked.OrderByDescending(s => float.IsNaN(s.Score) ? float.NegativeInfinity : s.Score).ToArray();
        return new Classification(ordered[0].Label, ordered[0].Score, ordered);
    }

    private void DisposeEverything()
    {
        while (_idle.TryTake(out var engine))
            engine.Dispose();
        foreach (var owned in _owned)
            owned.Dispose();
    }
}
