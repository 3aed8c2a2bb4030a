namespace MlNetCnn;

/// <summary>One row of a <see cref="CnnModelSummary"/>: a layer call in the order the forward pass made it.</summary>
/// <param name="Name">The layer's path in the network, as its state_dict keys start (e.g. <c>layer1.0.conv1</c>).</param>
/// <param name="Type">The TorchSharp module type (e.g. <c>Conv2d</c>).</param>
/// <param name="OutputShape">The output shape for a batch of one image, or null when the forward pass never called the layer.</param>
/// <param name="Parameters">The layer's own parameters; 0 on a second call of a layer used twice, so the column adds up to the total.</param>
/// <param name="MultiplyAccumulates">Multiply-accumulates of this call for one image (Conv2d and Linear only; 0 for other layers).</param>
public sealed record CnnLayerSummary(string Name, string Type, IReadOnlyList<long>? OutputShape, long Parameters, long MultiplyAccumulates);
