using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>A trained network in evaluation mode that turns batches of images into class probabilities. Thread-safe.</summary>
internal sealed class ScoringNetwork : IDisposable
{
    // Scoring threads share the module freely; a summary adds forward hooks to it, so it waits for them and they for it.
    private readonly ReaderWriterLockSlim _hooksLock = new();

    public ScoringNetwork(nn.Module<Tensor, Tensor> module, InputStandardization standardization, ImageShape shape, int classCount)
    {
        Module = module;
        Standardization = standardization;
        Shape = shape;
        ClassCount = classCount;
        Module.eval();
    }

    public nn.Module<Tensor, Tensor> Module { get; }

    public InputStandardization Standardization { get; }

    public ImageShape Shape { get; }

    public int ClassCount { get; }

    /// <summary>Scores <paramref name="count"/> images (C×H×W floats each) into <paramref name="probabilities"/> (ClassCount each) in one forward pass.</summary>
    public void Score(ReadOnlySpan<float> pixels, int count, Span<float> probabilities)
    {
        if (pixels.Length < count * Shape.Size || probabilities.Length < count * ClassCount)
            throw new ArgumentException("The buffers are smaller than the batch.");
        _hooksLock.EnterReadLock();
        try
        {
            ScoreUnlocked(pixels, count, probabilities);
        }
        finally
        {
            _hooksLock.ExitReadLock();
        }
    }

    /// <summary>Lists the module's layers (see <see cref="CnnModelSummary"/>), with scoring held off meanwhile.</summary>
    public CnnModelSummary Summarize(string modelName)
    {
        _hooksLock.EnterWriteLock();
        try
        {
            return CnnModelSummary.Create(Module, Shape, modelName);
        }
        finally
        {
            _hooksLock.ExitWriteLock();
        }
    }

    private void ScoreUnlocked(ReadOnlySpan<float> pixels, int count, Span<float> probabilities)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = empty(count, Shape.Channels, Shape.Height, Shape.Width);
        pixels[..(count * Shape.Size)].CopyTo(MemoryMarshal.Cast<byte, float>(batch.bytes));
        var scores = nn.functional.softmax(Module.call(Standardization.Apply(batch)), 1).contiguous();
        MemoryMarshal.Cast<byte, float>(scores.bytes).CopyTo(probabilities);
    }

    public void Dispose()
    {
        Module.Dispose();
        Standardization.Dispose();
        _hooksLock.Dispose();
    }
}
