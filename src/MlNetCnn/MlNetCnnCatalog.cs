using Microsoft.ML;

namespace MlNetCnn;

/// <summary>MLContext catalog entry points of MlNetCnn.</summary>
public static class MlNetCnnCatalog
{
    /// <summary>A trainer for a convolutional network image classifier; see <see cref="CnnTrainer"/>.</summary>
    public static CnnTrainer Cnn(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, CnnTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new CnnTrainer(Persistence.MlNetInternals.Environment(catalog), options);
    }
}
