using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using ClassifierService;
using MlNetCnn.Tests;

namespace MlNetCnn.Service.Tests;

/// <summary>
/// Bad uploads never get a 500 or a stack trace: 400 or 415 with a JSON error naming what was wrong, 413 over the
/// limit (64 KB here), whether the body declares its length or not; the service keeps answering good requests.
/// </summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private const long Limit = 64 << 10;
    private RunningService _service = null!;

    public async Task InitializeAsync() => _service = await RunningService.StartAsync(TrainedModels.Shared.Digits, maxUploadBytes: Limit);

    public async Task DisposeAsync() => await _service.DisposeAsync();

    private static string Digit => DigitImages.Test(perClass: 1)[3];

    [Fact]
    public async Task AnEmptyBodyIs400()
        => await AssertRefused(await _service.PostBytesAsync([], "image/png"), HttpStatusCode.BadRequest, "the body is empty");

    [Fact]
    public async Task ABodyThatIsNotAnImageIs400()
        => await AssertRefused(await _service.PostBytesAsync("hello, not a picture"u8.ToArray(), "image/png"),
            HttpStatusCode.BadRequest, "not a readable image");

    [Fact]
    public async Task ATruncatedImageIs400()
    {
        byte[] png = await File.ReadAllBytesAsync(Digit);
        await AssertRefused(await _service.PostBytesAsync(png[..(png.Length * 2 / 3)], "image/png"), HttpStatusCode.BadRequest, "truncated");
    }

    [Fact]
    public async Task ADecompressionBombIs400BeforeItIsDecoded()
    {
        // 150-odd bytes whose header declares 50000×50000 pixels (10 GB decoded): refused from the header alone.
        string bomb = DatasetFiles.WriteOversizedPngHeader(Path.Combine(_service.Folder, "bomb.png"), 50_000, 50_000);
        Assert.True(new FileInfo(bomb).Length < 1000);
        await AssertRefused(await _service.PostFileAsync(bomb), HttpStatusCode.BadRequest, "50000×50000");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("image/gif")]
    [InlineData("application/json")]
    public async Task AnUnsupportedContentTypeIs415(string contentType)
        => await AssertRefused(await _service.PostFileAsync(Digit, contentType), HttpStatusCode.UnsupportedMediaType, contentType);

    [Fact]
    public async Task NoContentTypeIs415()
        => await AssertRefused(await _service.PostBytesAsync(await File.ReadAllBytesAsync(Digit), null),
            HttpStatusCode.UnsupportedMediaType, "Content-Type");

    [Fact]
    public async Task AMultipartFormWithoutTheImageFieldIs400()
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent(await File.ReadAllBytesAsync(Digit)), "picture", "digit.png" } };
        await AssertRefused(await PostFormAsync(form), HttpStatusCode.BadRequest, "no field 'image'");
    }

    [Fact]
    public async Task AMultipartImageFieldOfAnotherTypeIs415()
    {
        var file = new ByteArrayContent(await File.ReadAllBytesAsync(Digit));
        file.Headers.ContentType = MediaTypeHeaderValue.Parse("image/tiff");
        using var form = new MultipartFormDataContent { { file, "image", "digit.tif" } };
        await AssertRefused(await PostFormAsync(form), HttpStatusCode.UnsupportedMediaType, "image/tiff");
    }

    [Fact]
    public async Task OverTheLimitIs413WithOrWithoutAContentLength()
    {
        var big = new byte[Limit + 1];
        await AssertRefused(await _service.PostBytesAsync(big, "image/png"), HttpStatusCode.RequestEntityTooLarge, "larger than the limit");

        // Chunked: the length is only known while the body streams in.
        using (var chunked = new StreamContent(new MemoryStream(big)))
        {
            chunked.Headers.ContentType = MediaTypeHeaderValue.Parse("image/png");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/classify") { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            await AssertRefused(await _service.Client.SendAsync(request), HttpStatusCode.RequestEntityTooLarge, "larger than the limit");
        }

        using var form = new MultipartFormDataContent { { new ByteArrayContent(big), "image", "big.png" } };
        await AssertRefused(await PostFormAsync(form), HttpStatusCode.RequestEntityTooLarge, "larger than the limit");

        // A body Kestrel itself stops (far over the limit, chunked) is 413 too.
        using var huge = new StreamContent(new MemoryStream(new byte[4 * Limit]));
        huge.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=x");
        using var hugeRequest = new HttpRequestMessage(HttpMethod.Post, "/classify") { Content = huge };
        hugeRequest.Headers.TransferEncodingChunked = true;
        using var hugeResponse = await _service.Client.SendAsync(hugeRequest);
        Assert.True(hugeResponse.StatusCode is HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest, $"{hugeResponse.StatusCode}");
    }

    [Fact]
    public async Task GetOnClassifyIs405AndTheServiceStillAnswers()
    {
        using var response = await _service.Client.GetAsync(new Uri("/classify", UriKind.Relative));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(10, (await _service.ClassifyAsync(Digit)).Scores.Count);
        // Nothing is left behind of the uploads, refused or scored.
        string uploads = Path.Combine(_service.ScratchFolder, "uploads");
        Assert.Empty(Directory.Exists(uploads) ? Directory.EnumerateFileSystemEntries(uploads) : []);
    }

    private Task<HttpResponseMessage> PostFormAsync(MultipartFormDataContent form)
        => _service.Client.PostAsync(new Uri("/classify", UriKind.Relative), form);

    private static async Task AssertRefused(HttpResponseMessage response, HttpStatusCode status, string mentioned)
    {
        using (response)
        {
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
            var error = await response.Content.ReadFromJsonAsync<ErrorReport>(RunningService.Json);
            Assert.NotNull(error);
            Assert.Contains(mentioned, error.Error, StringComparison.Ordinal);
            Assert.DoesNotContain(" at ", error.Error, StringComparison.Ordinal);
        }
    }
}
