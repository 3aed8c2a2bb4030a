using Microsoft.Playwright;
using Xunit.Abstractions;

namespace MlNetCnn.Service.Tests;

/// <summary>A fact that needs Debian's Chromium (<c>apt-get install chromium</c>; .ci/run installs it when missing).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    /// <summary>The browser Playwright drives: MLNETCNN_CHROMIUM, else Debian's.</summary>
    public static string ExecutablePath
        => Environment.GetEnvironmentVariable("MLNETCNN_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(ExecutablePath))
            Skip = $"no Chromium at {ExecutablePath}: apt-get install chromium (or set MLNETCNN_CHROMIUM)";
    }
}

/// <summary>
/// The page at / in a real browser: headless Chromium (Debian's, driven by Playwright's driver from its NuGet package,
/// nothing downloaded) chooses a digit file, and the page shows the image, the service's label and the top five
/// classes as bars; a file that is not an image shows the service's error. The screenshot stays in the test output.
/// </summary>
public sealed class BrowserTests(ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task ThePageShowsTheLabelAndTheTopFiveClassesOfAnUploadedDigit()
    {
        await using var service = await RunningService.StartAsync(TrainedModels.Shared.Digits);
        string digit = DigitImages.Test(perClass: 1)[7];
        var expected = await service.ClassifyAsync(digit);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumFactAttribute.ExecutablePath,
            Headless = true,
            // Root in a container has no user namespaces for Chromium's sandbox.
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 900, Height = 640 } });
        var pageErrors = new List<string>();
        page.PageError += (_, error) => pageErrors.Add(error);
        page.Console += (_, message) => { if (message.Type == "error") pageErrors.Add(message.Text); };

        await page.GotoAsync(service.Address.ToString());
        await Assertions.Expect(page.Locator("#model")).ToContainTextAsync("10 classes, libtorch engine");
        await page.Locator("#file").SetInputFilesAsync(digit);
        await Assertions.Expect(page.Locator("#bars li")).ToHaveCountAsync(5);

        Assert.Equal(expected.Label, await page.Locator("#label").TextContentAsync());
        var names = await page.Locator("#bars .name").AllTextContentsAsync();
        Assert.Equal(expected.Scores.Take(5).Select(s => s.Label), names);
        var values = await page.Locator("#bars .value").AllTextContentsAsync();
        Assert.Equal(expected.Scores.Take(5).Select(s => s.Score.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)), values);
        // The preview shows the uploaded file itself.
        Assert.True(await page.Locator("#preview").EvaluateAsync<bool>("img => img.complete && img.naturalWidth === 28"));

        string folder = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        string screenshot = Path.Combine(folder, "classifier-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 1000);

        // A file that is not an image: the page shows the service's reason instead of a result.
        string notAnImage = Path.Combine(service.Folder, "notes.png");
        await File.WriteAllTextAsync(notAnImage, "not a picture");
        await page.Locator("#file").SetInputFilesAsync(notAnImage);
        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("not a usable image");
        await Assertions.Expect(page.Locator("#result")).ToBeHiddenAsync();
        // The browser logs the refused upload's 400; nothing else went wrong on the page.
        Assert.Equal(["Failed to load resource: the server responded with a status of 400 (Bad Request)"], pageErrors);
    }
}
