using ClassifierService;
using Microsoft.Extensions.Logging.Abstractions;

namespace MlNetCnn.Service.Tests;

/// <summary>The scoring threads: work runs on them, and one whose work failed is replaced by a fresh thread.</summary>
public sealed class ScoringThreadsTests
{
    [Fact]
    public async Task AThreadWhoseWorkFailedIsReplacedAndTheOthersCarryOn()
    {
        using var threads = new ScoringThreads(new ServiceSettings { Concurrency = 1 }, NullLogger<ScoringThreads>.Instance);
        var first = await threads.RunAsync(() => Environment.CurrentManagedThreadId, CancellationToken.None);
        Assert.Equal(first, await threads.RunAsync(() => Environment.CurrentManagedThreadId, CancellationToken.None));
        Assert.NotEqual(Environment.CurrentManagedThreadId, first);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => threads.RunAsync<int>(() => throw new InvalidOperationException("native state broken"), CancellationToken.None));
        Assert.Equal("native state broken", failure.Message);
        int next = await threads.RunAsync(() => Environment.CurrentManagedThreadId, CancellationToken.None);
        Assert.NotEqual(first, next);
        Assert.Equal(1, threads.Replaced);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => threads.RunAsync(() => 1, cancelled.Token));
    }
}
