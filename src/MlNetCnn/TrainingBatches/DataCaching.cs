namespace MlNetCnn;

/// <summary>How <see cref="CnnTrainer"/> holds the images it trains and validates on.</summary>
public enum DataCaching
{
    /// <summary>
    /// Cache the decoded images in memory when they fit <see cref="CnnTrainerOptions.MemoryBudgetBytes"/> (one byte per
    /// value for 8-bit images); otherwise decode them again every epoch. The choice is written to the training log.
    /// </summary>
    Auto,

    /// <summary>Always cache the decoded images in memory, whatever their size.</summary>
    InMemory,

    /// <summary>
    /// Never hold more than a few batches: every epoch reads the images again through the pipeline, on background
    /// threads, while the network trains. For image collections larger than memory.
    /// </summary>
    Streaming,
}
