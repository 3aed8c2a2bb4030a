using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ClassifierService;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace MlNetCnn.Service.Tests;

/// <summary>
/// The service as <c>dotnet run</c> starts it (<see cref="ClassifierApp.Create"/>, Kestrel on a free loopback port),
/// serving a copy of a model in a folder of its own so that a test may replace the file.
/// </summary>
internal sealed class RunningService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RunningService(WebApplication app, string folder, string watchedPath)
    {
        _app = app;
        Folder = folder;
        WatchedPath = watchedPath;
        Address = new Uri(app.Urls.Single());
        Client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public string Folder { get; }

    /// <summary>The service's scratch folder (uploads, ONNX copies).</summary>
    public string ScratchFolder => _app.Services.GetRequiredService<ServiceFiles>().Root;

    /// <summary>The file the service watches: replace it to swap the model.</summary>
    public string WatchedPath { get; }

    /// <summary>
    /// Starts the service on a copy of <paramref name="modelPath"/> (a model, or an ONNX bundle with
    /// <see cref="ScoringEngine.Onnx"/> and <paramref name="bundle"/>).
    /// </summary>
    public static async Task<RunningService> StartAsync(string modelPath, ScoringEngine engine = ScoringEngine.LibTorch,
        bool bundle = false, long maxUploadBytes = 20L << 20, double pollSeconds = 0.5)
    {
        string folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-service-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        string copy = Path.Combine(folder, bundle ? "model.onnx.zip" : "model.zip");
        File.Copy(modelPath, copy);
        var settings = new ServiceSettings
        {
            ModelPath = bundle ? "" : copy, ModelPathGiven = true, Engine = engine, OnnxBundlePath = bundle ? copy : null,
            MaxUploadBytes = maxUploadBytes, PollInterval = TimeSpan.FromSeconds(pollSeconds),
        };
        var app = ClassifierApp.Create(settings, ["--urls", "http://127.0.0.1:0"]);
        await app.StartAsync();
        return new RunningService(app, folder, copy);
    }

    /// <summary>Replaces the watched file as SaveAtomically does: written beside it, then renamed over it.</summary>
    public void ReplaceModel(byte[] bytes)
    {
        string temp = Path.Combine(Folder, Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, WatchedPath, overwrite: true);
    }

    public async Task<HttpResponseMessage> PostFileAsync(string path, string contentType = "image/png")
        => await PostBytesAsync(await File.ReadAllBytesAsync(path), contentType);

    public async Task<HttpResponseMessage> PostBytesAsync(byte[] bytes, string? contentType)
    {
        using var content = new ByteArrayContent(bytes);
        if (contentType is not null)
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await Client.PostAsync(new Uri("/classify", UriKind.Relative), content);
    }

    public async Task<Classification> ClassifyAsync(string path)
    {
        using var response = await PostFileAsync(path);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<Classification>(Json))!;
    }

    public async Task<JsonElement> HealthAsync()
    {
        using var response = await Client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
