using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Playwright;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.CommandCenter.Tests;

/// <summary>The command center in a real browser, over a real server and a real router.</summary>
[Collection(BrowserCollection.Name)]
public sealed class CommandCenterPageTests(BrowserFixture browser)
{
    private const string ViewerKey = "page-viewer-key-5be019";

    private static async Task CompleteAsync(HttpClient client, string key, int maxTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = ServerInstance.ModelName, prompt = "Once upon a time", max_tokens = maxTokens }),
        };
        request.Headers.Authorization = new("Bearer", key);
        using var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Where the run's screenshots go: TOKENFACTORY_SCREENSHOTS, else beside the test assembly.</summary>
    private static string ScreenshotPath(string name)
    {
        string folder = Environment.GetEnvironmentVariable("TOKENFACTORY_SCREENSHOTS") is { Length: > 0 } configured
            ? configured : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name);
    }

    [SkippableFact]
    public async Task Under_load_of_two_teams_the_page_shows_what_metrics_and_the_ledger_say_and_updates_live()
    {
        var chromium = browser.Browser;
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:Floor:ViewerKey"] = ViewerKey });
        var a = await floor.NewKeyAsync();
        var b = await floor.NewKeyAsync();
        for (int i = 0; i < 3; i++)
            await CompleteAsync(floor.Server.Client, a.Secret!, 12);
        await CompleteAsync(floor.Server.Client, b.Secret!, 6);

        await using var driver = await PageDriver.OpenAsync(chromium);
        await driver.GoLiveAsync(floor.Server.BaseAddress, FloorServer.AdminKey);

        // Totals equal /metrics and the ledger (within one refresh).
        var ledger = await floor.LedgerAsync();
        double prompt = ledger.Sum(e => e.PromptTokens), completion = ledger.Sum(e => e.CompletionTokens);
        Assert.Equal(prompt, await floor.Server.MetricAsync("tokenfactory_prompt_tokens_total"));
        Assert.Equal(completion, await floor.Server.MetricAsync("tokenfactory_generation_tokens_total"));
        await Eventually.HoldsAsync(() => driver.MetricAsync("total_requests"), v => v == 4, seconds: 3);
        Assert.Equal(prompt, await driver.MetricAsync("total_prompt_tokens"));
        Assert.Equal(completion, await driver.MetricAsync("total_completion_tokens"));
        Assert.Equal(ledger.Sum(e => e.CostUsd), await driver.MetricAsync("total_usd"), 12);

        // Each team's spend as the ledger groups it.
        var usage = (await floor.Admin.GetFromJsonAsync("/admin/usage?group_by=team", AdminJsonContext.Relaxed.AdminListUsageRowBody))!.Data;
        foreach (var key in new[] { a, b })
        {
            var row = usage.Single(u => u.Group == key.Team);
            string team = $"[data-team=\"{key.Team}\"]";
            await Eventually.HoldsAsync(() => driver.ValueAsync($"{team} [data-field=requests]"), v => v == row.Requests, seconds: 7);
            Assert.Equal(row.PromptTokens, await driver.ValueAsync($"{team} [data-field=prompt_tokens]"));
            Assert.Equal(row.CompletionTokens, await driver.ValueAsync($"{team} [data-field=completion_tokens]"));
            Assert.Equal(row.CostUsd, await driver.ValueAsync($"{team} [data-field=usd]"), 12);
        }
        Assert.Equal(3, await driver.ValueAsync($"[data-key=\"{a.Id}\"] [data-field=requests]"));

        // Charts hold the history and draw it.
        foreach (string chart in new[] { "throughput", "ttft", "queue", "utilization" })
        {
            var (points, drawn) = await driver.ChartAsync(chart);
            Assert.True(points > 0, $"{chart}: no points");
            Assert.True(drawn > 0, $"{chart}: an empty canvas");
        }

        // New traffic shows within 2 s, in the figures and in the charts (the output tokens plotted grow by its tokens).
        double plotted = await driver.ValueAsync("[data-chart=\"throughput\"]", "data-sum");
        await CompleteAsync(floor.Server.Client, b.Secret!, 6);
        var answered = Stopwatch.StartNew();
        await Eventually.HoldsAsync(() => driver.MetricAsync("total_requests"), v => v == 5, seconds: 2);
        await Eventually.HoldsAsync(() => driver.ValueAsync("[data-chart=\"throughput\"]", "data-sum"), v => v > plotted, seconds: 2);
        Assert.True(answered.Elapsed < TimeSpan.FromSeconds(2.5), $"shown after {answered.Elapsed}");
        Assert.True(await driver.MetricAsync("kv_bytes") >= 0); // memory in use is a number, not a dash
        Assert.Equal(0, await driver.MetricAsync("state_bytes")); // a transformer holds no recurrent state

        // Under load, for the docs: a few requests at once from both teams while the screenshot is taken.
        var load = Task.WhenAll(Enumerable.Range(0, 6).Select(i => CompleteAsync(floor.Server.Client, (i % 2 == 0 ? a : b).Secret!, 48)));
        await Task.Delay(1500);
        string shot = ScreenshotPath("command-center.png");
        await driver.Page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        await load;
        Assert.True(new FileInfo(shot).Length > 20_000, "the screenshot is a real page");
        Assert.True(driver.ConsoleErrors.Count == 0, "console errors:\n" + string.Join("\n", driver.ConsoleErrors));
    }

    [SkippableFact]
    public async Task The_viewer_sees_the_page_and_no_secret_reaches_the_browser()
    {
        var chromium = browser.Browser;
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:Floor:ViewerKey"] = ViewerKey });
        var key = await floor.NewKeyAsync();
        await CompleteAsync(floor.Server.Client, key.Secret!, 4);

        await using var driver = await PageDriver.OpenAsync(chromium, 2560, 1440, ColorScheme.Dark);
        var responses = new List<IResponse>(); // read after the page settled: blocking in Playwright's event handler would stall it
        driver.Page.Response += (_, response) =>
        {
            if (!response.Url.Contains("/stream", StringComparison.Ordinal))
                lock (responses)
                    responses.Add(response);
        };
        await driver.GoLiveAsync(floor.Server.BaseAddress, ViewerKey);
        Assert.Equal("viewer", await driver.Page.GetAttributeAsync("body", "data-role"));
        await Eventually.HoldsAsync(() => driver.ValueAsync($"[data-team=\"{key.Team}\"] [data-field=requests]"), v => v == 1, seconds: 7);

        Assert.Equal("", await driver.Page.EvaluateAsync<string>("document.cookie")); // the session cookie is HttpOnly
        var bodies = new List<string>();
        foreach (var response in responses.ToList())
        {
            try
            {
                bodies.Add(await response.TextAsync());
            }
            catch (PlaywrightException)
            {
                // a body the browser no longer holds (the sign-in page's, dropped when it reloaded) or never had (a 204)
            }
        }
        Assert.Contains(bodies, b => b.Contains("\"factory.now\"", StringComparison.Ordinal));
        Assert.Contains(bodies, b => b.Contains("\"factory.history\"", StringComparison.Ordinal));
        Assert.Contains(bodies, b => b.Contains("factory.teams", StringComparison.Ordinal)); // the data did pass through here
        string everything = string.Join("\n", bodies) + await driver.Page.ContentAsync();
        foreach (string secret in new[] { key.Secret!, FloorServer.AdminKey, ViewerKey })
            Assert.DoesNotContain(secret, everything);
        await driver.Page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath("command-center-wall-dark.png") });
        Assert.True(driver.ConsoleErrors.Count == 0, "console errors:\n" + string.Join("\n", driver.ConsoleErrors));
    }

    [SkippableFact]
    public async Task Behind_a_router_a_killed_replica_shows_unhealthy_within_two_seconds()
    {
        var chromium = browser.Browser;
        await using var first = await StubReplica.StartAsync("stub-model");
        await using var second = await StubReplica.StartAsync("stub-model");
        first.Status = () => StubReplica.StatusOf("stub-model", running: 1);
        second.Status = () => StubReplica.StatusOf("stub-model", running: 3);
        await using var router = await RouterInstance.StartAsync([first.BaseAddress, second.BaseAddress]);

        await using var driver = await PageDriver.OpenAsync(chromium);
        await driver.GoLiveAsync(router.BaseAddress);
        foreach (var replica in new[] { first, second })
            await driver.Page.WaitForSelectorAsync($"[data-replica=\"{replica.Name}\"][data-health=healthy]", new() { Timeout = 5000 });

        await second.KillAsync();
        var killed = Stopwatch.StartNew();
        await driver.Page.WaitForSelectorAsync($"[data-replica=\"{second.Name}\"][data-health=unhealthy]", new() { Timeout = 2000 });
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(2), $"shown after {killed.Elapsed}");
        Assert.Equal("healthy", await driver.Page.GetAttributeAsync($"[data-replica=\"{first.Name}\"]", "data-health"));
        Assert.True(driver.ConsoleErrors.Count == 0, "console errors:\n" + string.Join("\n", driver.ConsoleErrors));
    }
}
