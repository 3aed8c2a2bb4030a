namespace MlNetCnn;

/// <summary>The optimization algorithm.</summary>
public enum CnnOptimizer
{
    /// <summary>Adam (Kingma and Ba); <see cref="CnnTrainerOptions.WeightDecay"/> is added to the gradient (L2).</summary>
    Adam,
    /// <summary>AdamW: Adam with decoupled weight decay (Loshchilov and Hutter).</summary>
    AdamW,
    /// <summary>Stochastic gradient descent with <see cref="CnnTrainerOptions.Momentum"/> and optional Nesterov momentum.</summary>
    Sgd,
}

/// <summary>How weights are initialized before training.</summary>
public enum WeightInitialization
{
    /// <summary>As the architecture defines it (torchvision's choices for the zoo; TorchSharp's defaults otherwise).</summary>
    ArchitectureDefault,
    /// <summary>He/Kaiming normal (fan-out, ReLU) for convolution and linear weights, zero biases.</summary>
    KaimingNormal,
    /// <summary>Glorot/Xavier uniform for convolution and linear weights, zero biases (as the teaching material does for NiN and AlexNet).</summary>
    XavierUniform,
    /// <summary>
    /// As the architecture defines it, then every convolution with at least as many output as input channels (and no
    /// groups) starts as the identity on its first input-channel-many filters (PyTorch's <c>dirac_</c>): a centred 1 in
    /// filter i at input channel i, zeros elsewhere. A deep plain network then starts close to an implicit residual one,
    /// and trains fast at high learning rates (airbench, hlb-CIFAR10); the remaining filters and biases keep their values.
    /// </summary>
    Identity,
}

/// <summary>A per-epoch figure that early stopping and plateau schedules can watch.</summary>
public enum TrainingMetric
{
    /// <summary>Validation loss (lower is better). Needs validation data.</summary>
    ValidationLoss,
    /// <summary>Validation accuracy (higher is better). Needs validation data.</summary>
    ValidationAccuracy,
    /// <summary>Training loss over the epoch (lower is better).</summary>
    TrainLoss,
    /// <summary>Training accuracy over the epoch (higher is better).</summary>
    TrainAccuracy,
}

/// <summary>
/// Test-time augmentation: variants of each image that the trained network scores, averaging their class
/// probabilities. It applies wherever the network scores (the transformer, its saved copy, and the per-epoch validation
/// figures while training) and costs one more forward pass per variant.
/// </summary>
public enum TestTimeAugmentation
{
    /// <summary>Each image is scored as it is.</summary>
    None,
    /// <summary>
    /// Each image and its left-right mirror image; for classes that a mirror does not change (photographs such as
    /// CIFAR-10, clothing), never for digits or text.
    /// </summary>
    HorizontalFlip,
    /// <summary>
    /// Six views of each image, as airbench94's <c>tta_level</c> 2 scores CIFAR-10: the image and its mirror image
    /// (weight 1/4 each), and the image padded by one reflected pixel per side and cropped back to its size at the
    /// top-left and at the bottom-right corner (the content moved one pixel down-right and one pixel up-left), each with
    /// its mirror image (weight 1/8 each). The class probabilities are averaged with these weights (airbench averages the
    /// logits instead). Costs six forward passes per image (three times <see cref="HorizontalFlip"/>); for classes that a
    /// mirror and a one-pixel shift do not change (photographs such as CIFAR-10), never for digits or text. Needs images
    /// of at least 2×2 pixels.
    /// </summary>
    HorizontalFlipAndTranslation,
}

/// <summary>
/// The number format a training step computes in (<see cref="CnnTrainerOptions.Precision"/>). Mixed precision keeps a
/// float32 master copy of every weight, which the optimizer updates; each step runs a copy of the network whose
/// convolution and linear weights are rounded to bfloat16 (8 significant bits, float32's range), and its gradients come
/// back to the master weights as float32. Batch norms, their statistics and the loss compute in float32.
/// </summary>
public enum TrainingPrecision
{
    /// <summary>Every training step in float32.</summary>
    Float32,
    /// <summary>
    /// bfloat16 mixed precision where the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16) and libtorch's oneDNN
    /// kernels are on; float32 elsewhere, where bfloat16 would only be emulated (slower than float32). The log says which ran.
    /// </summary>
    MixedBFloat16WhereNative,
    /// <summary>bfloat16 mixed precision on any CPU: the same arithmetic everywhere, emulated (slowly) where the CPU
    /// lacks bfloat16 instructions.</summary>
    MixedBFloat16,
}
