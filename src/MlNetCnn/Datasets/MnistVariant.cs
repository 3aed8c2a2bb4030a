namespace MlNetCnn;

/// <summary>Which dataset a pair of IDX files holds, which decides the class names of the label key.</summary>
public enum MnistVariant
{
    /// <summary>Handwritten digits: classes "0" … "9".</summary>
    Mnist,

    /// <summary>
    /// Zalando's Fashion-MNIST: "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
    /// "Bag", "Ankle boot".
    /// </summary>
    FashionMnist,
}
