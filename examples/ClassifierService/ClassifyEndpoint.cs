using System.Buffers;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using MlNetCnn;

namespace ClassifierService;

/// <summary>The error body of every refused request.</summary>
public sealed record ErrorReport(string Error);

/// <summary>
/// <c>POST /classify</c>: the image as the body (image/png or image/jpeg) or as the field <c>image</c> of a multipart
/// form. The upload is written to its own folder (size-limited while it streams), checked with ImageFolder's header,
/// pixel-limit and decode checks, then scored by the model in service from that file, so the pipeline's own image
/// loading brings any size or color mode to the model's input.
/// </summary>
public sealed class ClassifyEndpoint
{
    // ImageFolder lists files by extension; the decoders go by content, so one neutral extension serves PNG and JPEG.
    private const string UploadExtension = ".upload";
    private static readonly string[] s_imageTypes = ["image/png", "image/jpeg", "image/jpg"];

    private readonly ModelHost _host;
    private readonly ServiceFiles _files;
    private readonly long _maxUploadBytes;
    private readonly ScoringThreads _scoring;

    public ClassifyEndpoint(ModelHost host, ServiceFiles files, ServiceSettings settings, ScoringThreads scoring)
    {
        _host = host;
        _files = files;
        _maxUploadBytes = settings.MaxUploadBytes;
        _scoring = scoring;
    }

    public async Task<IResult> HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType) || mediaType.MediaType.Value is not { } type)
            return Unsupported($"the request has no usable Content-Type ('{request.ContentType}')");
        type = type.ToLowerInvariant();
        bool multipart = type == "multipart/form-data";
        if (!multipart && !s_imageTypes.Contains(type))
            return Unsupported($"the Content-Type '{type}' is not accepted");
        if (request.ContentLength > _maxUploadBytes + (multipart ? 64 << 10 : 0))
            return TooLarge();

        string folder = _files.NewUploadFolder();
        string classFolder = Path.Combine(folder, "upload");
        string imagePath = Path.Combine(classFolder, "image" + UploadExtension);
        Directory.CreateDirectory(classFolder);
        try
        {
            var received = multipart
                ? await ReceiveMultipartAsync(request, mediaType, imagePath, context.RequestAborted)
                : await ReceiveAsync(request.Body, imagePath, context.RequestAborted);
            if (received is not null)
                return received;

            var (result, generation) = await _scoring.RunAsync(() => CheckAndScore(folder, imagePath), context.RequestAborted);
            if (generation > 0)
                context.Response.Headers["X-Model-Generation"] = generation.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return result;
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits (the body over MaxRequestBodySize) and malformed requests.
            return e.StatusCode == StatusCodes.Status413PayloadTooLarge ? TooLarge()
                : Error(e.StatusCode, $"the request could not be read: {e.Message}");
        }
        finally
        {
            DeleteFolder(folder);
        }
    }

    /// <summary>On a scoring thread: the checks, then the model in service, held from the first use to the last.</summary>
    private (IResult Result, int Generation) CheckAndScore(string folder, string imagePath)
    {
        if (ImageProblem(folder, imagePath) is { } problem)
            return (Error(StatusCodes.Status400BadRequest, $"the upload is not a usable image: {problem}"), 0);
        var model = _host.Acquire();
        try
        {
            return (Results.Ok(model.Classify(imagePath)), model.Generation);
        }
        catch (Exception e) when (e.GetBaseException() is ArgumentException bad)
        {
            // ML.NET's image loading refusing what the checks let through: the upload's fault, not the server's.
            return (Error(StatusCodes.Status400BadRequest, $"the image could not be brought to the model's input: {bad.Message}"), 0);
        }
        finally
        {
            model.Release();
        }
    }

    /// <summary>The body, written to the file up to the limit; an error result, or null when the file holds an upload.</summary>
    private async Task<IResult?> ReceiveAsync(Stream body, string path, CancellationToken cancellation)
    {
        long length = 0;
        // A pooled buffer and an unbuffered file: a request then leaves no 64 KB arrays behind for the collector.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 << 10);
        try
        {
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: true);
            int read;
            while ((read = await body.ReadAsync(buffer, cancellation)) > 0)
            {
                length += read;
                if (length > _maxUploadBytes)
                    return TooLarge();
                await file.WriteAsync(buffer.AsMemory(0, read), cancellation);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return length > 0 ? null
            : Error(StatusCodes.Status400BadRequest, "the body is empty: send the image file as the body, or as the form field 'image'");
    }

    private async Task<IResult?> ReceiveMultipartAsync(HttpRequest request, MediaTypeHeaderValue mediaType, string path,
        CancellationToken cancellation)
    {
        string boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value ?? "";
        if (boundary.Length is 0 or > 200)
            return Error(StatusCodes.Status400BadRequest, "the multipart Content-Type has no usable boundary");
        var reader = new MultipartReader(boundary, request.Body);
        try
        {
            while (await reader.ReadNextSectionAsync(cancellation) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    || !string.Equals(HeaderUtilities.RemoveQuotes(disposition.Name).Value, "image", StringComparison.Ordinal))
                    continue;
                // Browsers send the file's type; a type they do not know comes as application/octet-stream.
                string partType = (MediaTypeHeaderValue.TryParse(section.ContentType, out var part) ? part.MediaType.Value : null)?.ToLowerInvariant()
                    ?? "application/octet-stream";
                if (!s_imageTypes.Contains(partType) && partType != "application/octet-stream")
                    return Unsupported($"the form field 'image' is '{partType}'");
                return await ReceiveAsync(section.Body, path, cancellation);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException && e is not BadHttpRequestException
            && !cancellation.IsCancellationRequested)
        {
            return Error(StatusCodes.Status400BadRequest, $"the multipart body could not be read: {e.Message}");
        }
        return Error(StatusCodes.Status400BadRequest, "the multipart form has no field 'image'");
    }

    /// <summary>ImageFolder's checks on the upload: header, pixel limit (decompression bombs) and a complete decode.</summary>
    private static string? ImageProblem(string folder, string imagePath)
    {
        try
        {
            ImageFolder.List(folder, [UploadExtension], ImageValidation.Throw, ImageFolder.DefaultMaxImagePixels);
            return null;
        }
        catch (InvalidDataException e)
        {
            // "The image '<path>' cannot be used: <problem>. Remove it, ..." addresses someone who owns the folder.
            const string Marker = " cannot be used: ";
            string message = e.Message;
            int start = message.IndexOf(Marker, StringComparison.Ordinal);
            int end = message.IndexOf(". Remove it", StringComparison.Ordinal);
            return start >= 0 && end > start ? message[(start + Marker.Length)..end]
                : message.Replace(imagePath, "the upload", StringComparison.Ordinal);
        }
    }

    private static void DeleteFolder(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Removed with the service's folder at the latest.
        }
    }

    private IResult TooLarge()
        => Error(StatusCodes.Status413PayloadTooLarge, $"the upload is larger than the limit of {_maxUploadBytes:N0} bytes (--max-upload-mb)");

    private static IResult Unsupported(string what)
        => Error(StatusCodes.Status415UnsupportedMediaType,
            $"{what}: send image/png or image/jpeg as the body, or multipart/form-data with the file in the field 'image'");

    public static IResult Error(int status, string message) => Results.Json(new ErrorReport(message), statusCode: status);
}
