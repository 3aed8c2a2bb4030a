using System.IO.Compression;
using Microsoft.ML;
using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// Saving models so that a crash, a full disk or a failing transformer never destroys the previous file, and loading
/// them so that a damaged file is an <see cref="InvalidDataException"/> that names it.
/// </summary>
public static class ModelFileExtensions
{
    /// <summary>
    /// Saves <paramref name="model"/> like <c>mlContext.Model.Save</c>, but atomically: the model is written to a
    /// temporary file in the same folder, flushed to disk and then renamed over <paramref name="filePath"/>. If
    /// anything fails (an exception, a full disk, the process being killed) the file that was there before is left
    /// untouched and loadable, and the temporary file is removed. A temporary file that a killed save left behind
    /// (<c>.name.*.tmp</c>) is removed by the next save of the same file.
    /// </summary>
    /// <param name="catalog">The model operations catalog, <c>mlContext.Model</c>.</param>
    /// <param name="model">The trained model to save.</param>
    /// <param name="inputSchema">The schema of the data the model was trained on (recommended), or null.</param>
    /// <param name="filePath">The model file to create or replace; its folder must exist.</param>
    public static void SaveAtomically(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema? inputSchema, string filePath)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(filePath));
        if (folder is null || !Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Cannot save the model to '{filePath}': the folder '{folder}' does not exist.");
        string name = Path.GetFileName(filePath);
        if (name.IndexOfAny(['*', '?']) < 0)
            AtomicFile.RemoveStale(folder, name);
        AtomicFile.Write(filePath, stream => catalog.Save(model, inputSchema, stream));
    }

    /// <summary>
    /// Loads a model like <c>mlContext.Model.Load</c>, but with the errors a caller can act on at the top level.
    /// <c>Model.Load</c> invokes each transformer's loader by reflection, so a loader's exception arrives wrapped in
    /// <see cref="System.Reflection.TargetInvocationException"/>s (and sometimes an <see cref="InvalidOperationException"/>).
    /// Here a damaged, truncated or forged file is one <see cref="InvalidDataException"/> whose message names
    /// <paramref name="filePath"/> and the fault; any other loader error (e.g. a custom architecture that is not
    /// registered) is rethrown as the loader threw it.
    /// </summary>
    /// <param name="catalog">The model operations catalog, <c>mlContext.Model</c>.</param>
    /// <param name="filePath">The model file (a zip written by <c>Model.Save</c> or <see cref="SaveAtomically"/>).</param>
    /// <param name="inputSchema">The schema of the data the model was trained on, or null when it was saved without one.</param>
    /// <returns>The loaded model; dispose it (it is <see cref="IDisposable"/> when it holds a network) to free native memory at once.</returns>
    /// <exception cref="InvalidDataException">The file is not a readable model: damaged, truncated, forged or not a model.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static ITransformer LoadCnnModel(this ModelOperationsCatalog catalog, string filePath, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        // ML.NET creates its ml_dotnet_* extraction folder before it opens the zip and leaves it behind when the zip
        // cannot be opened; opening it here first keeps a damaged file from leaving anything in the temp folder.
        try
        {
            using var zip = ZipFile.OpenRead(filePath);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The model file '{filePath}' cannot be loaded: it is not a readable zip archive ({e.Message}).", e);
        }
        try
        {
            return catalog.Load(filePath, out inputSchema);
        }
        catch (Exception e) when (Unwrap(e) != e || IsFileFault(e))
        {
            var fault = Unwrap(e);
            if (IsFileFault(fault))
                throw new InvalidDataException($"The model file '{filePath}' cannot be loaded: {fault.Message}", e);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(fault);
            throw;
        }
    }

    private static bool IsFileFault(Exception e) => e is InvalidDataException or EndOfStreamException or FormatException;

    /// <summary>Strips the wrappers ML.NET's reflection-based loading adds around a loader's exception.</summary>
    private static Exception Unwrap(Exception e)
    {
        while (e.InnerException is { } inner && (e is System.Reflection.TargetInvocationException
            || (e is InvalidOperationException && inner is System.Reflection.TargetInvocationException or InvalidDataException or FormatException)))
            e = inner;
        return e;
    }
}
