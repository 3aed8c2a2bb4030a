using System.Collections.Concurrent;
using MlNetCnn.Architectures;
using MlNetCnn.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// A convolutional network design that <see cref="CnnTrainer"/> can train: it builds a TorchSharp module sized to the
/// input images and the number of classes. Use the built-in architectures (e.g. <see cref="LeNet5"/>) or
/// <see cref="Custom"/> for your own network. A saved model records the architecture's <see cref="Name"/>; loading it
/// looks the name up among the built-in and the registered custom architectures.
/// </summary>
public abstract class CnnArchitecture
{
    private static readonly ConcurrentDictionary<string, CnnArchitecture> s_registry = new(StringComparer.Ordinal);

    /// <summary>Creates an architecture and registers it under <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Another architecture is already registered under that name.</exception>
    protected CnnArchitecture(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        if (!s_registry.TryAdd(name, this))
            throw new ArgumentException($"An architecture named '{name}' is already registered; choose another name.", nameof(name));
    }

    /// <summary>LeNet-5 (6-16-120-84, ReLU and max-pooling); 1×28×28 inputs get the classic padding of 2 on the first convolution.</summary>
    public static CnnArchitecture LeNet5 { get; } = new LeNet5Architecture();

    /// <summary>The name saved with a model and shown in summaries.</summary>
    public string Name { get; }

    /// <summary>The smallest input height and width the network accepts.</summary>
    public virtual int MinimumImageSize => 1;

    /// <summary>
    /// Builds a freshly initialized network for images of <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/>
    /// (planar CHW floats) and <paramref name="numClasses"/> classes. Its forward pass maps a batch [N, C, H, W] to logits [N, numClasses].
    /// </summary>
    public nn.Module<Tensor, Tensor> CreateModule(int channels, int height, int width, int numClasses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 2);
        if (height < MinimumImageSize || width < MinimumImageSize)
            throw new ArgumentException($"{Name} needs images of at least {MinimumImageSize}×{MinimumImageSize} pixels, but the input is {height}×{width}. {SmallInputAdvice}".TrimEnd());
        TorchRuntime.EnsureInitialized();
        return Build(channels, height, width, numClasses);
    }

    /// <summary>Builds the module; arguments are already validated.</summary>
    protected abstract nn.Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses);

    /// <summary>Extra advice appended to the too-small-input error (e.g. which variant to use instead).</summary>
    protected virtual string SmallInputAdvice => "Resize the images (ResizeImages) to at least that size.";

    /// <summary>
    /// Registers a user-defined network under a unique <paramref name="name"/>. The factory receives channels, height,
    /// width and the number of classes. Register it again (same name) before loading a model saved with it.
    /// </summary>
    public static CnnArchitecture Custom(string name, Func<int, int, int, int, nn.Module<Tensor, Tensor>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new CustomArchitecture(name, factory);
    }

    /// <summary>Finds a built-in or registered architecture by its <see cref="Name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No architecture has that name.</exception>
    public static CnnArchitecture FromName(string name)
    {
        if (s_registry.TryGetValue(name, out var architecture))
            return architecture;
        throw new KeyNotFoundException(
            $"No CNN architecture named '{name}' is known. Built-in and registered ones: {string.Join(", ", s_registry.Keys.Order())}. " +
            "A model trained with a custom architecture needs CnnArchitecture.Custom(name, factory) called again before it is loaded.");
    }

    /// <summary>All architectures known now: the built-in ones and any registered with <see cref="Custom"/>.</summary>
    public static IReadOnlyList<CnnArchitecture> All
    {
        get => s_registry.Values.OrderBy(a => a.Name, StringComparer.Ordinal).ToList();
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    private sealed class CustomArchitecture(string name, Func<int, int, int, int, nn.Module<Tensor, Tensor>> factory) : CnnArchitecture(name)
    {
        protected override nn.Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
            => factory(channels, height, width, numClasses) ?? throw new InvalidOperationException($"The factory of custom architecture '{Name}' returned null.");
    }
}
