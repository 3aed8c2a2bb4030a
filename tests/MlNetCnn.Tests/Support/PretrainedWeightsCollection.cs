namespace MlNetCnn.Tests;

/// <summary>
/// The pretrained-weights tests create and seed networks through libtorch's process-wide random generator; run alone,
/// they cannot shift the draws of tests that rely on a seeded run being repeatable (e.g. resuming from a checkpoint).
/// </summary>
[CollectionDefinition(nameof(PretrainedWeightsCollection), DisableParallelization = true)]
public sealed class PretrainedWeightsCollection;
