using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// A trained network in evaluation mode that turns batches of images into class probabilities and, when asked, the
/// penultimate-layer features (the input of the last layer). Thread-safe.
/// </summary>
internal sealed class ScoringNetwork : IDisposable
{
    // The embedding hook runs on the thread that calls forward, so a thread-local slot keeps concurrent scoring apart.
    [ThreadStatic]
    private static Tensor? t_capturedEmbedding;

    private readonly Device _device;
    private readonly NetworkCall _network;

    // Scoring threads share the module freely; a summary adds forward hooks to it and Dispose frees it, so each waits
    // for the scoring threads and they for it. The lock itself is never disposed, so a late caller gets a clear error.
    private readonly ReaderWriterLockSlim _hooksLock = new();
    private bool _disposed;

    public ScoringNetwork(CnnArchitecture architecture, nn.Module<Tensor, Tensor> module,
        InputStandardization standardization, ImageShape shape, int classCount,
        Device? device = null, string? embeddingColumnName = null, TestTimeAugmentation testTimeAugmentation = TestTimeAugmentation.None)
    {
        TestTimeAugmentation = testTimeAugmentation;
        Module = module;
        Standardization = standardization;
        Shape = shape;
        ClassCount = classCount;
        _device = device ?? CPU;
        _network = NetworkCall.For(module, architecture, _device);
        EmbeddingColumnName = embeddingColumnName;
        Module.eval();
        if (embeddingColumnName != null)
        {
            var (name, layer) = ModuleWeights.LastParameterizedLayer(module);
            if (layer is not nn.Module<Tensor, Tensor> head)
                throw new NotSupportedException($"The last layer '{name}' of {module.GetName()} does not take one "
                    + "tensor, so its input cannot be output as an embedding.");
            // The hook lives as long as the module, which this network owns.
            head.register_forward_pre_hook((_, input) =>
            {
                t_capturedEmbedding = input.reshape(input.shape[0], -1);
                return input;
            });
            EmbeddingSize = MeasureEmbeddingSize();
        }
    }

    public nn.Module<Tensor, Tensor> Module { get; }

    public InputStandardization Standardization { get; }

    public ImageShape Shape { get; }

    public int ClassCount { get; }

    /// <summary>The name of the embedding column, or null when embeddings are not output.</summary>
    public string? EmbeddingColumnName { get; }

    /// <summary>Values per embedding (0 without embeddings).</summary>
    public int EmbeddingSize { get; }

    /// <summary>The variants averaged per image; embeddings come from the image itself.</summary>
    public TestTimeAugmentation TestTimeAugmentation { get; }

    /// <summary>
    /// Scores <paramref name="count"/> images (C×H×W floats each) in one forward pass into <paramref name="probabilities"/>
    /// (ClassCount each) and, when embeddings are on and <paramref name="embeddings"/> is not empty, the embeddings (EmbeddingSize each).
    /// An image with a NaN or infinite pixel gets NaN probabilities and embedding, whatever the network made of it, so
    /// it never receives a class.
    /// </summary>
    public void Score(ReadOnlySpan<float> pixels, int count, Span<float> probabilities, Span<float> embeddings = default)
    {
        if (pixels.Length < count * Shape.Size || probabilities.Length < count * ClassCount)
            throw new ArgumentException("The buffers are smaller than the batch.");
        _hooksLock.EnterReadLock();
        try
        {
            ThrowIfDisposed();
            Platform.TorchRuntime.UseScoringThreads(count);
            ScoreUnlocked(pixels, count, probabilities, embeddings);
            for (int i = 0; i < count; i++)
            {
                if (!AllFinite(pixels.Slice(i * Shape.Size, Shape.Size)))
                {
                    probabilities.Slice(i * ClassCount, ClassCount).Fill(float.NaN);
                    if (EmbeddingSize > 0 && !embeddings.IsEmpty)
                        embeddings.Slice(i * EmbeddingSize, EmbeddingSize).Fill(float.NaN);
                }
            }
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
            ThrowIfDisposed();
            return CnnModelSummary.Create(Module, Shape, modelName);
        }
        finally
        {
            _hooksLock.ExitWriteLock();
        }
    }

    private void ScoreUnlocked(ReadOnlySpan<float> pixels, int count, Span<float> probabilities, Span<float> embeddings)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = empty(count, Shape.Channels, Shape.Height, Shape.Width);
        pixels[..(count * Shape.Size)].CopyTo(MemoryMarshal.Cast<byte, float>(batch.bytes));
        t_capturedEmbedding = null;
        var scores = TestTimeAugmenter.LogProbabilities(_network, Standardization.Apply(batch).to(_device),
            TestTimeAugmentation).exp().cpu().contiguous();
        MemoryMarshal.Cast<byte, float>(scores.bytes).CopyTo(probabilities);
        if (EmbeddingSize > 0 && !embeddings.IsEmpty)
        {
            // With test-time variants the hook saw them too; its last capture starts with the images themselves.
            var features = t_capturedEmbedding!.narrow(0, 0, count).cpu().contiguous();
            MemoryMarshal.Cast<byte, float>(features.bytes).CopyTo(embeddings);
        }
        t_capturedEmbedding = null;
    }

    /// <summary>Whether every value is finite: x × 0 is 0 for finite x and NaN for NaN and ±∞, so one vector sum tells.</summary>
    internal static bool AllFinite(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
        var sum = System.Numerics.Vector<float>.Zero;
        foreach (var vector in vectors)
            sum += vector * System.Numerics.Vector<float>.Zero;
        float total = System.Numerics.Vector.Sum(sum);
        for (int i = vectors.Length * System.Numerics.Vector<float>.Count; i < values.Length; i++)
            total += values[i] * 0;
        return total == 0;
    }

    private int MeasureEmbeddingSize()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Module.call(zeros(1, Shape.Channels, Shape.Height, Shape.Width).to(_device));
        int size = (int)t_capturedEmbedding!.shape[1];
        t_capturedEmbedding = null;
        return size;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> naming <paramref name="use"/> when the network was freed.</summary>
    public void ThrowIfDisposed(string? use = null)
    {
        if (_disposed)
            throw new ObjectDisposedException(nameof(CnnTransformer),
                $"{(use is null ? "This CnnTransformer" : $"The CnnTransformer given as {use}")} was disposed, which "
                + "freed its network. Dispose a model only after its last use, or load it again "
                + "(mlContext.Model.Load).");
    }

    public void Dispose()
    {
        _hooksLock.EnterWriteLock();
        try
        {
            if (_disposed)
                return;
            _disposed = true;
            Module.Dispose();
            Standardization.Dispose();
        }
        finally
        {
            _hooksLock.ExitWriteLock();
        }
    }
}
