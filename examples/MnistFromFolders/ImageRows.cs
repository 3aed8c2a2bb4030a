namespace MnistFromFolders;

/// <summary>A row to predict: what <see cref="MlNetCnn.ImageFolder"/> lists.</summary>
internal sealed class ImageInput
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

/// <summary>A prediction: one probability per class and the predicted folder name.</summary>
internal sealed class ImagePrediction
{
    public float[] Score { get; set; } = [];

    public string PredictedLabel { get; set; } = "";
}
