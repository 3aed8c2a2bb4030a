using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using ClassifierService;
using Xunit.Abstractions;

namespace MlNetCnn.Service.Tests;

/// <summary>
/// Live swaps under load (8 clients posting digits without pause): replacing the model file by an atomic rename is
/// picked up within seconds with no failed and no mixed answer (the two models name their classes differently), and
/// every request after the first new answer gets the new model; a corrupt or truncated replacement is refused, logged
/// in /health, and the old model keeps serving until a good file arrives.
/// </summary>
public sealed class ModelSwapTests(ITestOutputHelper output)
{
    private const int Clients = 8;

    [Fact]
    public async Task ARenamedInModelIsServedWithoutAFailedOrMixedRequest()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        await using var load = new Load(service);
        await load.WaitForAnswersAsync(40);

        var clock = Stopwatch.StartNew();
        service.ReplaceModel(await File.ReadAllBytesAsync(TrainedModels.Shared.Renamed));
        var firstRenamed = await load.WaitForAsync(a => a.Model == "renamed", TimeSpan.FromSeconds(20));
        output.WriteLine($"the renamed model answered {clock.Elapsed.TotalSeconds:F2} s after the rename");
        await load.WaitForAnswersAsync(load.Count + 40);
        var answers = await load.StopAsync();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
        Assert.Empty(answers.Where(a => a.Failure is not null).Select(a => a.Failure));
        Assert.DoesNotContain(answers, a => a.Model == "mixed");
        Assert.Contains(answers, a => a.Model == "digits");
        // Every request sent after the first new answer arrived was scored by the new model, generation 2.
        var later = answers.Where(a => a.Sent > firstRenamed.Received).ToList();
        Assert.True(later.Count >= 40, $"{later.Count}");
        Assert.All(later, a => Assert.Equal(("renamed", "2"), (a.Model, a.Generation)));
        Assert.All(answers.Where(a => a.Model == "digits"), a => Assert.Equal("1", a.Generation));
        var health = await service.HealthAsync();
        Assert.Equal(2, health.GetProperty("generation").GetInt32());
        Assert.Equal(1, health.GetProperty("swaps").GetInt32());
    }

    [Fact]
    public async Task ACorruptOrTruncatedReplacementIsRefusedAndTheOldModelKeepsServing()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        await using var load = new Load(service);
        await load.WaitForAnswersAsync(20);

        byte[] renamed = await File.ReadAllBytesAsync(TrainedModels.Shared.Renamed);
        var garbage = new byte[renamed.Length];
        new Random(7).NextBytes(garbage);
        service.ReplaceModel(garbage);
        var refusal = await WaitForRefusalAsync(service, previous: null);
        Assert.Contains(service.WatchedPath, refusal.Reason, StringComparison.Ordinal);
        Assert.Contains("not a readable zip", refusal.Reason, StringComparison.Ordinal);

        service.ReplaceModel(renamed[..(renamed.Length / 2)]);
        var second = await WaitForRefusalAsync(service, previous: refusal.At);
        Assert.Contains(service.WatchedPath, second.Reason, StringComparison.Ordinal);
        output.WriteLine(refusal.Reason);
        output.WriteLine(second.Reason);
        await load.WaitForAnswersAsync(load.Count + 20);
        var answers = await load.StopAsync();

        Assert.Empty(answers.Where(a => a.Failure is not null).Select(a => a.Failure));
        Assert.All(answers, a => Assert.Equal(("digits", "1"), (a.Model, a.Generation)));
        var health = await service.HealthAsync();
        Assert.Equal(1, health.GetProperty("generation").GetInt32());
        Assert.Equal(0, health.GetProperty("swaps").GetInt32());

        // A good file after the bad ones is taken.
        service.ReplaceModel(renamed);
        var deadline = Stopwatch.StartNew();
        while ((await service.HealthAsync()).GetProperty("generation").GetInt32() != 2)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the good replacement was not taken");
            await Task.Delay(100);
        }
        Assert.StartsWith("digit-", (await service.ClassifyAsync(DigitImages.Test(1)[0])).Label, StringComparison.Ordinal);
    }

    private static async Task<(string Reason, DateTimeOffset At)> WaitForRefusalAsync(RunningService service, DateTimeOffset? previous)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var health = await service.HealthAsync();
            if (health.GetProperty("lastRefusalAt").ValueKind != System.Text.Json.JsonValueKind.Null
                && health.GetProperty("lastRefusalAt").GetDateTimeOffset() is var at && at != previous)
                return (health.GetProperty("lastRefusal").GetString()!, at);
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the replacement was neither taken nor refused");
            await Task.Delay(100);
        }
    }

    private sealed record Answer(long Sent, long Received, string Model, string? Generation, string? Failure);

    /// <summary>Clients posting digits in a loop until stopped, recording which model answered each request.</summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly RunningService _service;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentQueue<Answer> _answers = new();
        private readonly Task[] _clients;

        public Load(RunningService service)
        {
            _service = service;
            var images = DigitImages.Test(perClass: 3).Select(File.ReadAllBytes).ToArray();
            _clients = [.. Enumerable.Range(0, Clients).Select(c => Task.Run(() => RunAsync(images, c)))];
        }

        public int Count => _answers.Count;

        public async Task WaitForAnswersAsync(int count)
        {
            var deadline = Stopwatch.StartNew();
            while (_answers.Count < count)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), $"only {_answers.Count} answers");
                await Task.Delay(20);
            }
        }

        public async Task<Answer> WaitForAsync(Func<Answer, bool> wanted, TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                if (_answers.Where(wanted).OrderBy(a => a.Received).FirstOrDefault() is { } found)
                    return found;
                Assert.True(deadline.Elapsed < timeout, "no such answer in time");
                await Task.Delay(20);
            }
        }

        public async Task<IReadOnlyList<Answer>> StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_clients);
            return [.. _answers];
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }

        private async Task RunAsync(byte[][] images, int client)
        {
            for (int i = client; !_stop.IsCancellationRequested; i++)
            {
                long sent = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await _service.PostBytesAsync(images[i % images.Length], "image/png");
                    long received = Stopwatch.GetTimestamp();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        string body = await response.Content.ReadAsStringAsync();
                        _answers.Enqueue(new Answer(sent, received, "", null, $"{response.StatusCode}: {body}"));
                        continue;
                    }
                    var answer = (await response.Content.ReadFromJsonAsync<Classification>(RunningService.Json))!;
                    _answers.Enqueue(new Answer(sent, received, ModelOf(answer), response.Headers.GetValues("X-Model-Generation").Single(), null));
                }
                catch (HttpRequestException e)
                {
                    _answers.Enqueue(new Answer(sent, Stopwatch.GetTimestamp(), "", null, e.Message));
                }
            }
        }

        // Every label of one answer comes from one model, or the answer mixed two.
        private static string ModelOf(Classification answer)
        {
            var labels = answer.Scores.Select(s => s.Label).Append(answer.Label).ToArray();
            return labels.All(l => l.StartsWith("digit-", StringComparison.Ordinal)) ? "renamed"
                : labels.All(l => l.Length == 1) ? "digits" : "mixed";
        }
    }
}
