using Microsoft.Playwright;

namespace TokenFactory.CommandCenter.Tests;

/// <summary>
/// One headless Chromium for the page tests: Debian's, which <c>scripts/install-chromium</c> installs (Playwright's
/// own browser downloads do not work here), driven by Playwright through its executable path. In CI its absence
/// fails the tests; elsewhere they are skipped with the reason.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumVariable = "TOKENFACTORY_CHROMIUM";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public static string? ExecutablePath =>
        Environment.GetEnvironmentVariable(ChromiumVariable) is { Length: > 0 } configured ? configured
        : new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    public string? SkipReason { get; private set; }

    public IBrowser Browser
    {
        get
        {
            Skip.If(SkipReason is not null, SkipReason);
            return _browser!;
        }
    }

    public async Task InitializeAsync()
    {
        if (ExecutablePath is not { } path)
        {
            if (PostgresDatabase.InCi)
                throw new InvalidOperationException("CI=true but no Chromium: scripts/test runs scripts/install-chromium before the tests.");
            SkipReason = "The command center's browser tests need Chromium: run scripts/install-chromium (as root) or set " + ChromiumVariable + ".";
            return;
        }
        _playwright = await Playwright.CreateAsync();
        // --no-sandbox: the suite runs as root in containers, where Chromium's sandbox cannot start.
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = path, Headless = true, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
            await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
