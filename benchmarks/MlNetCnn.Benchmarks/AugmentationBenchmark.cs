using System.Globalization;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// What augmentation costs per epoch: the same pipeline (MapValueToKey → [AugmentImages] → CnnTrainer) on synthetic
/// 3×32×32 images, fitted without augmentation, with the CIFAR recipe (reflect-padded crop + flip) and with every
/// augmentation on, alternating so that drift hits all three alike. LeNet-5 shows the worst case (a cheap network, so
/// augmentation is a large share); ResNet-9 (width 32) a realistic CIFAR network.
/// </summary>
internal static class AugmentationBenchmark
{
    public static IEnumerable<string> Run(BenchmarkOptions options)
    {
        int epochs = options.Epochs ?? 1, repeats = options.Repeats ?? 3;
        var variants = new (string Name, ImageAugmentationOptions? Options)[]
        {
            ("none", null),
            ("crop 4 (reflect) + flip", ImageAugmentationOptions.CropAndFlip(4, CropPadding.Reflect)),
            ("all (crop, flip, rotate 10, shift 0.1, colour 0.2, erase 0.5)", new ImageAugmentationOptions
            {
                CropPadding = 4, CropPaddingMode = CropPadding.Reflect, HorizontalFlipProbability = 0.5,
                    MaxRotationDegrees = 10, MaxTranslation = 0.1,
                Brightness = 0.2, Contrast = 0.2, Saturation = 0.2, ErasingProbability = 0.5,
            }),
        };
        var lines = new List<string>();
        foreach (var (architecture, defaultCount) in new[] { (CnnArchitecture.LeNet5, 20_000), (CnnArchitecture.ResNet9(32), 2_560) })
        {
            int count = options.Images ?? defaultCount;
            var source = new PipelineSource(SyntheticImages.Create(new ImageShape(3, 32, 32), count, 10, options.Seed));
            Console.WriteLine();
            Console.WriteLine($"== augment: {architecture.Name} on {count} synthetic 3x32x32 images, {epochs} "
                + $"epoch(s), batch {options.BatchSize}, {options.Threads} threads, {repeats} alternating repeats ==");
            foreach (var (_, augmentation) in variants) // warm-up: JIT and libtorch's first calls
                Measurements.Pipeline(
                    new PipelineSource(SyntheticImages.Create(new ImageShape(3, 32, 32), 512, 10, options.Seed)),
                    architecture, 1, options.BatchSize, options.Threads, options.Seed, augmentation);
            var rates = variants.Select(_ => new List<double>()).ToArray();
            double otherCores = 0;
            for (int r = 0; r < repeats; r++)
            {
                for (int v = 0; v < variants.Length; v++)
                {
                    var result = Measurements.Pipeline(source, architecture, epochs, options.BatchSize, options.Threads,
                        options.Seed, variants[v].Options);
                    rates[v].Add(result.TrainImagesPerSecond);
                    otherCores = Math.Max(otherCores, result.Stats.OtherCores(result.TotalSeconds));
                    Console.WriteLine($"run {r + 1} {variants[v].Name}: {result.TrainImagesPerSecond:F0} images/s, "
                        + $"last-epoch loss {result.FinalLoss:F4}");
                }
            }
            double plain = Measurements.Median(rates[0]);
            lines.Add($"{architecture.Name}, {count} images x {epochs} epoch(s), batch {options.BatchSize}, "
                + $"{options.Threads} threads, median of {repeats} (epoch time relative to no augmentation):");
            for (int v = 0; v < variants.Length; v++)
            {
                double rate = Measurements.Median(rates[v]);
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"  {variants[v].Name,-62} {rate,8:F0} images/s   epoch time x{plain / rate:F3}"));
            }
            lines.Add($"  other processes' CPU during the runs: up to {otherCores:F2} cores");
            lines.Add("");
        }
        return lines;
    }
}
