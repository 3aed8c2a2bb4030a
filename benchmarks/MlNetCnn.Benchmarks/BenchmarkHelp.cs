namespace MlNetCnn.Benchmarks;

/// <summary>What <c>--help</c> prints below the usage line: the modes and options, in words.</summary>
internal static class BenchmarkHelp
{
    public const string Text = """
          lenet        CnnTrainer in an ML.NET pipeline vs a plain TorchSharp loop, LeNet-5 on 1×28×28, same process
          malloc       a VGG-style network on 3×32×32 in child processes: MlNetCnn's mallopt tuning off, on, GLIBC_TUNABLES
          zoo          every architecture's training and inference images/s on random 3×32×32 batches
          augment      pipeline epochs with and without AugmentImages (CIFAR-size images)
          all          lenet then malloc (the default)
          profile      the trainer against the plain loop with the trainer's extras added one by one, per-phase times
          (other modes in the usage line are described at the top of Program.cs)
          --images N   synthetic images (lenet: 20,000)           --epochs N   epochs per run (lenet: 3)
          --batch N    images per step (zoo, augment: 128; others: 64)
          --repeats N  alternating repeats (lenet: 3)              --threads N  libtorch threads (default 2)
          --seed N     seed of data and weights (default 1)
          --max-wait S wait up to S seconds for other processes to leave the cores before each timed run (default 30, 0 = never)
          --seconds S  zoo: least time in training steps per architecture
          --only A,B   zoo: only these architectures (names as ArchitectureZoo lists them)
          --size N     zoo: image height and width (default 32)
        Run with -c Release; every run reports how many cores other processes used meanwhile.
        """;
}
