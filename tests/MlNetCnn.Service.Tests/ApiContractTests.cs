using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using ClassifierService;
using Microsoft.ML;
using SkiaSharp;

namespace MlNetCnn.Service.Tests;

/// <summary>
/// POST /classify and GET /health as documented: 200 with every class, highest first, for PNG and JPEG bodies and
/// multipart uploads of any size and color mode; the same answers as the pipeline scored in-process; the ONNX engine
/// (exported at start-up or read from a bundle) agreeing with libtorch.
/// </summary>
public sealed class ApiContractTests
{
    private static readonly string[] s_digitClasses = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    [Fact]
    public async Task HealthSaysTheModelIsLoaded()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        var health = await service.HealthAsync();
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal("libtorch", health.GetProperty("engine").GetString());
        Assert.Equal(10, health.GetProperty("classes").GetInt32());
        Assert.Equal(1, health.GetProperty("generation").GetInt32());
        Assert.Equal(service.WatchedPath, health.GetProperty("model").GetString());
    }

    [Fact]
    public async Task ClassifyAnswersEveryClassHighestFirstAsThePipelineDoesInProcess()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        var ml = new MLContext();
        var model = ml.Model.LoadCnnModel(TrainedModels.Shared.Digits, out var schema);
        try
        {
            using var engine = ml.Model.CreatePredictionEngine<ImageRequest, ScoreRow>(model, schema);
            foreach (string image in DigitImages.Test(perClass: 2))
            {
                using var response = await service.PostFileAsync(image);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
                Assert.Equal("1", response.Headers.GetValues("X-Model-Generation").Single());
                string json = await response.Content.ReadAsStringAsync();
                Assert.StartsWith("{\"label\":", json, StringComparison.Ordinal);
                var answer = (await response.Content.ReadFromJsonAsync<Classification>(RunningService.Json))!;

                Assert.Equal(s_digitClasses, answer.Scores.Select(s => s.Label).Order(StringComparer.Ordinal));
                Assert.Equal(answer.Scores.OrderByDescending(s => s.Score).Select(s => s.Score), answer.Scores.Select(s => s.Score));
                Assert.Equal(answer.Scores[0].Label, answer.Label);
                Assert.Equal(answer.Scores[0].Score, answer.Score);
                Assert.InRange(answer.Scores.Sum(s => s.Score), 0.999f, 1.001f);
                float[] expected = engine.Predict(new ImageRequest { ImagePath = image }).Score;
                foreach (var score in answer.Scores)
                    Assert.Equal(expected[Array.IndexOf(s_digitClasses, score.Label)], score.Score, 1e-6f);
            }
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public async Task MultipartUploadsJpegsAndColorImagesOfAnySizeAreScoredLikeThePngBody()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        // A digit the model is sure of, so that resizing and recoloring it cannot move a borderline answer.
        string digit = "";
        Classification expected = null!;
        foreach (string candidate in DigitImages.Test(perClass: 3))
        {
            digit = candidate;
            expected = await service.ClassifyAsync(candidate);
            if (expected.Score > 0.9f)
                break;
        }

        using (var form = new MultipartFormDataContent())
        {
            var file = new ByteArrayContent(await File.ReadAllBytesAsync(digit));
            file.Headers.ContentType = MediaTypeHeaderValue.Parse("image/png");
            form.Add(new StringContent("ignored"), "note");
            form.Add(file, "image", "digit.png");
            using var response = await service.Client.PostAsync(new Uri("/classify", UriKind.Relative), form);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = (await response.Content.ReadFromJsonAsync<Classification>(RunningService.Json))!;
            Assert.Equal(expected.Scores, answer.Scores);
        }

        // The same digit as a 300×200 color JPEG and a 97×61 RGBA PNG: the pipeline resizes and makes it grayscale.
        var recoded = new[]
        {
            (Recode(digit, 300, 200, SKEncodedImageFormat.Jpeg), "image/jpeg"), (Recode(digit, 97, 61, SKEncodedImageFormat.Png), "image/png"),
        };
        foreach (var (bytes, type) in recoded)
        {
            using var response = await service.PostBytesAsync(bytes, type);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = (await response.Content.ReadFromJsonAsync<Classification>(RunningService.Json))!;
            Assert.Equal(10, answer.Scores.Count);
            Assert.Equal(expected.Label, answer.Label);
        }
    }

    [Fact]
    public async Task TheOnnxEngineAgreesWithLibTorchExportedAtStartUpOrReadFromABundle()
    {
        var images = DigitImages.Test(perClass: 2);
        var expected = new List<Classification>();
        await using (var libtorch = await RunningService.StartAsync(TrainedModels.Shared.Digits))
        {
            foreach (string image in images)
                expected.Add(await libtorch.ClassifyAsync(image));
        }
        await using var exported = await RunningService.StartAsync(TrainedModels.Shared.Digits, ScoringEngine.Onnx);
        await using var bundled = await RunningService.StartAsync(TrainedModels.Shared.DigitsOnnxBundle, ScoringEngine.Onnx, bundle: true);
        Assert.Equal("onnx", (await exported.HealthAsync()).GetProperty("engine").GetString());
        Assert.Equal(bundled.WatchedPath, (await bundled.HealthAsync()).GetProperty("model").GetString());
        for (int i = 0; i < images.Count; i++)
        {
            foreach (var service in new[] { exported, bundled })
            {
                var answer = await service.ClassifyAsync(images[i]);
                Assert.Equal(expected[i].Label, answer.Label);
                Assert.Equal(expected[i].Scores.Select(s => s.Label), answer.Scores.Select(s => s.Label));
                foreach (var (want, got) in expected[i].Scores.Zip(answer.Scores))
                    Assert.Equal(want.Score, got.Score, 1e-4f);
            }
        }
    }

    [Fact]
    public async Task ThePageAndItsScriptAreServedFromTheServiceAlone()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        string page = await service.Client.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Contains("<script src=\"/app.js\">", page, StringComparison.Ordinal);
        // Nothing from elsewhere: every src and href is a path on this service.
        Assert.DoesNotContain("http", page.Replace("http-equiv", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        using var script = await service.Client.GetAsync(new Uri("/app.js", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.StartsWith("text/javascript", script.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", script.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
    }

    private static byte[] Recode(string png, int width, int height, SKEncodedImageFormat format)
    {
        using var source = SKBitmap.Decode(png);
        using var color = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(color))
        {
            // White strokes on black become yellow strokes on dark blue: three channels that differ.
            canvas.Clear(new SKColor(10, 20, 60));
            using var paint = new SKPaint
            {
                ColorFilter = SKColorFilter.CreateBlendMode(new SKColor(255, 230, 40), SKBlendMode.Modulate), BlendMode = SKBlendMode.Plus,
            };
            canvas.DrawBitmap(source, new SKRect(0, 0, width, height), paint);
        }
        using var image = SKImage.FromBitmap(color);
        using var data = image.Encode(format, 95);
        return data.ToArray();
    }
}
