using System.Reflection;
using Microsoft.AspNetCore.Diagnostics;

namespace ClassifierService;

/// <summary>The web application: built here so that the program, the tests and the load generator start the same one.</summary>
public static class ClassifierApp
{
    // Kestrel's own body limit sits above the upload limit by the multipart framing, so the endpoint, which counts
    // the image bytes themselves, is what answers 413 with a JSON body in every case it can.
    private const long MultipartAllowance = 64 << 10;

    /// <summary>Builds the app; <see cref="ModelHost"/> loads the model when it starts (a bad model stops the start).</summary>
    /// <param name="settings">The service's options.</param>
    /// <param name="hostArguments">ASP.NET Core's own arguments (--urls, ...).</param>
    public static WebApplication Create(ServiceSettings settings, IReadOnlyList<string> hostArguments)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [.. hostArguments] });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
            builder.WebHost.UseUrls(ServiceSettings.DefaultUrls);
        // Hosting's per-request lines at Information would cost more than a small model's scoring.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxUploadBytes + MultipartAllowance;
        });
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<ServiceFiles>();
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ModelHost>());
        builder.Services.AddSingleton<ScoringThreads>();
        builder.Services.AddSingleton<ClassifyEndpoint>();

        var app = builder.Build();
        // Anything unexpected is a 500 with a JSON body and no stack trace (the log has it).
        app.UseExceptionHandler(handler => handler.Run(async context =>
        {
            var failure = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            context.Response.StatusCode = failure is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError;
            string message = failure is BadHttpRequestException rejected ? $"the request could not be read: {rejected.Message}"
                : "the server failed to classify the image; its log says why";
            await context.Response.WriteAsJsonAsync(new ErrorReport(message));
        }));
        app.Use(async (context, next) =>
        {
            // The page loads nothing from elsewhere (nothing outside the machine may be reachable).
            context.Response.Headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' blob: data:";
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            await next(context);
        });

        app.MapPost("/classify", (HttpContext context, ClassifyEndpoint endpoint) => endpoint.HandleAsync(context));
        app.MapGet("/health", (ModelHost host) => host.Health() is { } health ? Results.Ok(health)
            : ClassifyEndpoint.Error(StatusCodes.Status503ServiceUnavailable, "no model is loaded yet"));
        MapPage(app, "/", "index.html", "text/html; charset=utf-8");
        MapPage(app, "/app.js", "app.js", "text/javascript; charset=utf-8");
        MapPage(app, "/app.css", "app.css", "text/css; charset=utf-8");
        return app;
    }

    private static void MapPage(WebApplication app, string route, string resource, string contentType)
    {
        byte[] content = ReadResource("page/" + resource);
        app.MapGet(route, () => Results.Bytes(content, contentType));
    }

    private static byte[] ReadResource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The resource {name} is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
