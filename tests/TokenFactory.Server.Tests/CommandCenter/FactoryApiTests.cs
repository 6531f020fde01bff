using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.CommandCenter;

/// <summary>The command center's data API on a real server: every figure traceable to /metrics or the ledger.</summary>
public sealed class FactoryApiTests
{
    private static async Task<JsonObject> NowAsync(HttpClient client) => (await client.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!;

    private static async Task CompleteAsync(HttpClient client, string? key = null, int maxTokens = 8)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = JsonContent.Create(new { model = ServerInstance.ModelName, prompt = "Once upon a time", max_tokens = maxTokens }) };
        if (key is not null)
            request.Headers.Authorization = new("Bearer", key);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Now_totals_history_and_models_agree_with_metrics_and_the_ledger()
    {
        await using var floor = await FloorServer.StartAsync();
        var a = await floor.NewKeyAsync();
        var b = await floor.NewKeyAsync();
        for (int i = 0; i < 3; i++)
            await CompleteAsync(floor.Server.Client, a.Secret, 8);
        for (int i = 0; i < 2; i++)
            await CompleteAsync(floor.Server.Client, b.Secret, 5);

        var now = await Eventually.HoldsAsync(() => NowAsync(floor.Admin), n => n["totals"]!["requests"]!.GetValue<long>() == 5);
        var ledger = await floor.LedgerAsync();
        Assert.Equal(5, ledger.Count);
        var totals = now["totals"]!;
        Assert.Equal(ledger.Sum(e => e.PromptTokens), totals["prompt_tokens"]!.GetValue<long>());
        Assert.Equal(ledger.Sum(e => e.CompletionTokens), totals["completion_tokens"]!.GetValue<long>());
        Assert.Equal(await floor.Server.MetricAsync("tokenfactory_prompt_tokens_total"), totals["prompt_tokens"]!.GetValue<long>());
        Assert.Equal(await floor.Server.MetricAsync("tokenfactory_generation_tokens_total"), totals["completion_tokens"]!.GetValue<long>());
        Assert.Equal(ledger.Sum(e => e.CostUsd), totals["usd"]!.GetValue<double>(), 12);
        Assert.Equal("serve", (string?)now["mode"]);
        Assert.Equal("admin", (string?)now["role"]);

        // The seconds in which they finished hold them: requests, tokens and percentiles of their first tokens.
        var history = (await floor.Admin.GetFromJsonAsync<JsonObject>("/v1/factory/history?window=5m"))!;
        Assert.Equal(300, history["window_s"]!.GetValue<int>());
        var samples = history["samples"]!.AsArray().Select(s => s!.AsObject()).ToList();
        Assert.Equal(5, samples.Sum(s => s["requests"]!.GetValue<long>()));
        Assert.Equal(totals["completion_tokens"]!.GetValue<long>(), samples.Sum(s => s["completion_tokens"]!.GetValue<long>()));
        Assert.Contains(samples, s => s["output_tps"]!.GetValue<double>() > 0);
        Assert.Contains(samples, s => s["ttft"] is JsonObject ttft && ttft["p50"]!.GetValue<double>() > 0);
        Assert.Equal(5, samples.Sum(s => s["slo"]!.AsObject().Select(kv => kv.Value!["requests"]!.GetValue<long>()).Sum()));

        var model = Assert.Single(now["models"]!.AsArray())!;
        Assert.Equal(ServerInstance.ModelName, (string?)model["id"]);
        Assert.Equal("llama", (string?)model["architecture"]);
        Assert.Equal("F32", (string?)model["quantization"]);
        Assert.True(model["parameters"]!.GetValue<long>() > 200_000);
        Assert.Equal(512, model["context_length"]!.GetValue<int>());
        Assert.True(model["kv_bytes_per_token"]!.GetValue<long>() > 0);
        var replica = Assert.Single(now["replicas"]!.AsArray())!;
        Assert.True(replica["healthy"]!.GetValue<bool>());
        Assert.Equal("ready", (string?)replica["state"]);
    }

    [Fact]
    public async Task Teams_shows_each_team_and_key_as_the_ledger_reports_them_and_budgets_against_their_limits()
    {
        await using var floor = await FloorServer.StartAsync();
        var a = await floor.NewKeyAsync();
        var b = await floor.NewKeyAsync();
        var budget = await floor.CreateBudgetAsync("team", a.Team!, "tokens", hard: 100_000, soft: 10, period: "day");
        await CompleteAsync(floor.Server.Client, a.Secret, 8);
        await CompleteAsync(floor.Server.Client, a.Secret, 8);
        await CompleteAsync(floor.Server.Client, b.Secret, 3);
        using (var refused = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = JsonContent.Create(new { model = ServerInstance.ModelName, prompt = "x", max_tokens = -1 }) })
        {
            refused.Headers.Authorization = new("Bearer", b.Secret);
            using var response = await floor.Server.Client.SendAsync(refused);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        var teams = (await floor.Admin.GetFromJsonAsync<JsonObject>("/v1/factory/teams?period=day"))!;
        var usage = (await floor.Admin.GetFromJsonAsync("/admin/usage?group_by=team", AdminJsonContext.Relaxed.AdminListUsageRowBody))!.Data;
        foreach (var team in new[] { a.Team!, b.Team! })
        {
            var row = teams["teams"]!.AsArray().Single(t => (string?)t!["id"] == team)!;
            var ledger = usage.Single(u => u.Group == team);
            Assert.Equal(ledger.Requests, row["requests"]!.GetValue<long>());
            Assert.Equal(ledger.PromptTokens, row["prompt_tokens"]!.GetValue<long>());
            Assert.Equal(ledger.CompletionTokens, row["completion_tokens"]!.GetValue<long>());
            Assert.Equal(ledger.CostUsd, row["usd"]!.GetValue<double>(), 12);
            Assert.Equal(ledger.Refused, row["refused"]!.GetValue<long>());
        }
        Assert.Equal(2, teams["teams"]!.AsArray().Single(t => (string?)t!["id"] == a.Team)!["requests"]!.GetValue<long>());
        Assert.Equal(1, teams["teams"]!.AsArray().Single(t => (string?)t!["id"] == b.Team)!["refused"]!.GetValue<long>());
        var key = teams["keys"]!.AsArray().Single(k => (string?)k!["id"] == a.Id)!;
        Assert.Equal("test", (string?)key["name"]);
        Assert.Equal(a.Team, (string?)key["team_id"]);
        var shown = teams["budgets"]!.AsArray().Single(x => (string?)x!["id"] == budget.Id)!;
        var spentByA = usage.Single(u => u.Group == a.Team);
        Assert.Equal(spentByA.PromptTokens + spentByA.CompletionTokens, shown["spent"]!.GetValue<double>());
        Assert.Equal("soft_limit_reached", (string?)shown["state"]);
        Assert.Equal(100_000, shown["hard"]!.GetValue<double>());
        Assert.Contains(teams["refusals"]!.AsArray(), r => (string?)r!["reason"] is { Length: > 0 } && r["status"]!.GetValue<int>() == 400);
        Assert.DoesNotContain(a.Secret!, teams.ToJsonString());
        Assert.DoesNotContain(b.Secret!, teams.ToJsonString());
    }

    [Fact]
    public async Task The_stream_sends_the_now_object_every_second()
    {
        await using var server = await ServerInstance.StartAsync();
        using var response = await server.Client.GetAsync("/v1/factory/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var times = new List<double>();
        while (times.Count < 3)
        {
            string? line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotNull(line);
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var now = JsonNode.Parse(line["data: ".Length..])!;
                Assert.Equal("factory.now", (string?)now["object"]);
                if (now["sample"] is JsonObject sample)
                    times.Add(sample["t"]!.GetValue<double>());
            }
            else
                Assert.True(line is "" or "event: now", line);
        }
        Assert.True(times[2] > times[1], "each event carries a newer sample");
    }

    [Theory]
    [InlineData("/v1/factory/history?window=2d", "window")]
    [InlineData("/v1/factory/history?window=0", "window")]
    [InlineData("/v1/factory/teams?period=year", "period")]
    public async Task A_bad_parameter_is_a_400_that_names_it(string path, string param)
    {
        await using var server = await ServerInstance.StartAsync();
        using var response = await server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal(param, (string?)error["param"]);
    }
}
