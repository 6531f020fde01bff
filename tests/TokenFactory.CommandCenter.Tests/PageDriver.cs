using System.Globalization;
using Microsoft.Playwright;

namespace TokenFactory.CommandCenter.Tests;

/// <summary>A page of the command center in its own browser context, with what its console reported.</summary>
public sealed class PageDriver : IAsyncDisposable
{
    private readonly IBrowserContext _context;

    private PageDriver(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
                ConsoleErrors.Add($"{message.Text} ({message.Location})");
        };
        page.PageError += (_, error) => ConsoleErrors.Add(error);
    }

    public IPage Page { get; }

    /// <summary>console.error output and uncaught exceptions, in order.</summary>
    public List<string> ConsoleErrors { get; } = [];

    public static async Task<PageDriver> OpenAsync(IBrowser browser, int width = 1366, int height = 900, ColorScheme scheme = ColorScheme.Light)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height }, ColorScheme = scheme });
        return new PageDriver(context, await context.NewPageAsync());
    }

    /// <summary>Opens /dashboard; with a key, signs in on the 401 sign-in form first. Returns once the page is live.</summary>
    public async Task GoLiveAsync(Uri server, string? key = null)
    {
        var response = await Page.GotoAsync(new Uri(server, "/dashboard").ToString());
        if (key is not null)
        {
            Assert.Equal(401, response!.Status);
            await Page.FillAsync("#signin input[name=key]", key);
            await Page.ClickAsync("#signin button[type=submit]"); // the sign-in script reloads the page once signed in
        }
        await Page.WaitForSelectorAsync("body[data-state=live]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        // The sign-in page itself was a 401 on purpose; Chromium logs a 401 document as a console error.
        if (key is not null)
            ConsoleErrors.RemoveAll(e => e.Contains("status of 401", StringComparison.Ordinal) && e.EndsWith("/dashboard:0:0)", StringComparison.Ordinal));
    }

    /// <summary>An element's raw <c>data-value</c> (or another attribute; NaN when empty).</summary>
    public async Task<double> ValueAsync(string selector, string attribute = "data-value")
    {
        string? text = await Page.GetAttributeAsync(selector, attribute, new PageGetAttributeOptions { Timeout = 10_000 });
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? value : double.NaN;
    }

    public Task<double> MetricAsync(string name) => ValueAsync($"[data-metric=\"{name}\"]");

    /// <summary>How many points a chart holds, and how many of its canvas's pixels are drawn (not transparent).</summary>
    public async Task<(int Points, int DrawnPixels)> ChartAsync(string name)
    {
        int points = int.Parse(await Page.GetAttributeAsync($"[data-chart=\"{name}\"]", "data-points") ?? "0", CultureInfo.InvariantCulture);
        int drawn = await Page.EvaluateAsync<int>(@"name => {
            const canvas = document.querySelector(`[data-chart=""${name}""] canvas`);
            if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let drawn = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn++;
            return drawn;
        }", name);
        return (points, drawn);
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}
