using Microsoft.ML;

namespace MlNetCnn;

/// <summary>Finds the trained network in a model: a fitted pipeline or one returned by <c>mlContext.Model.Load</c>.</summary>
public static class CnnModelExtensions
{
    /// <summary>
    /// The <see cref="CnnTransformer"/> in <paramref name="model"/> (its training history, summary, class names, input
    /// shape), found in a transformer chain at any depth: a pipeline appended to another pipeline nests one chain in
    /// another, and <c>mlContext.Model.Load</c> returns the chain as a plain <see cref="ITransformer"/>.
    /// </summary>
    /// <param name="model">A fitted pipeline, a loaded model, or the <see cref="CnnTransformer"/> itself.</param>
    /// <returns>The model's only <see cref="CnnTransformer"/>; it belongs to the model (disposing the model disposes it).</returns>
    /// <exception cref="InvalidOperationException">The model holds no CNN, or more than one.</exception>
    /// <example>
    /// <code>
    /// var loaded = new MLContext().Model.Load("model.zip", out var schema);
    /// var cnn = loaded.GetCnnTransformer();
    /// Console.WriteLine(string.Join(", ", cnn.ClassNames));
    /// Console.WriteLine(cnn.TrainingHistory[^1]);
    /// Console.WriteLine(cnn.Summary());
    /// </code>
    /// </example>
    public static CnnTransformer GetCnnTransformer(this ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var found = new List<CnnTransformer>();
        Collect(model, found);
        return found.Count switch
        {
            1 => found[0],
            0 => throw new InvalidOperationException(
                $"The model ({model.GetType().Name}) holds no CnnTransformer: it was not trained with CnnTrainer, or "
                + "the CNN was fitted and saved separately."),
            _ => throw new InvalidOperationException(
                $"The model holds {found.Count} CnnTransformers, so which one is meant is ambiguous; enumerate the "
                + "chain (it is an IEnumerable<ITransformer>) to pick one."),
        };
    }

    private static void Collect(ITransformer transformer, List<CnnTransformer> found)
    {
        if (transformer is CnnTransformer cnn)
            found.Add(cnn);
        else if (transformer is IEnumerable<ITransformer> chain)
        {
            foreach (var inner in chain)
                Collect(inner, found);
        }
    }
}
