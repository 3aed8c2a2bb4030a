using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// A small colour PNG folder and the pipeline the streaming tests train on: MapValueToKey, LoadImages, ResizeImages, ExtractPixels
/// (scaled to 0..1) and a fitted NormalizeImages, so every kind of upstream transform is rebuilt over reordered rows.
/// </summary>
internal static class StreamingImageFolder
{
    public static string Create(TempFolder temp, int perClass = 24)
        => SyntheticImages.CreateFolder(temp.Combine("images"), perClass, size: 16, classes: 3, color: true);

    public static IDataView Prepare(MLContext ml, IDataView listing)
        => ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 16, 16))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
            .Append(ml.Transforms.NormalizeImages("Features"))
            .Fit(listing).Transform(listing);

    public static CnnTrainerOptions Options(DataCaching caching, int epochs = 2) => new()
    {
        Epochs = epochs, BatchSize = 16, Seed = 5, NumberOfThreads = 1, DataCaching = caching, DataLoadingThreads = 2,
    };

    public static float[] Weights(CnnTransformer model) => model.Network.Module.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
}
