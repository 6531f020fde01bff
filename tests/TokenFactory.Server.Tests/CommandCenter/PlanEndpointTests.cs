using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.CommandCenter;

/// <summary>GET /v1/factory/plan: the planner for the command center, as JSON and as the frontier SVG; bad queries are a 400 naming the parameter.</summary>
[Collection(StoriesServerCollection.Name)]
public sealed class PlanEndpointTests(StoriesServerFixture fixture)
{
    [Fact]
    public async Task The_plan_comes_as_json_and_its_frontier_as_svg()
    {
        var client = fixture.Server.Client;
        var plan = (await client.GetFromJsonAsync<JsonObject>("/v1/factory/plan?model=llama-3.1-70b&hardware=h200-sxm,b200&precision=FP8&isl=1000&osl=200&tpot_p99_ms=50&tokens_per_day=1e10"))!;
        var options = plan["options"]!.AsArray();
        Assert.Equal(["h200-sxm", "b200"], options.Select(o => (string)o!["hardware"]!));
        Assert.All(options, o =>
        {
            Assert.True((bool)o!["feasible"]!);
            Assert.True((double)o["tpot_p99_ms"]! <= 50);
            Assert.Equal(1e10 / 86400, (double)o["tokens_per_second"]!, 1e-3);
        });
        // The faster device needs fewer of itself for the same demand.
        Assert.True((int)options[1]!["devices"]! < (int)options[0]!["devices"]!);

        // Median targets too: an impossible median per-token target makes the option infeasible, with the reason.
        var median = (await client.GetFromJsonAsync<JsonObject>("/v1/factory/plan?model=llama-3.1-70b&hardware=h200-sxm&precision=FP8&isl=1000&osl=200&ttft_p50_ms=2000&tpot_p50_ms=0.5"))!;
        var refused = median["options"]!.AsArray().Single()!;
        Assert.False((bool)refused["feasible"]!);
        Assert.Contains("TPOT p50", (string?)refused["why"]);

        // Priority classes, as plan --class takes them: each with its own targets and outcome.
        var classed = (await client.GetFromJsonAsync<JsonObject>("/v1/factory/plan?model=llama-3.1-70b&hardware=h100-sxm&precision=FP8&isl=1000&osl=200&tokens_per_day=2e9"
            + "&class=interactive:0.3:ttft-p99=500:tpot-p99=30&class=batch:0.7:ttft-p99=60000"))!;
        var classes = classed["options"]!.AsArray().Single()!["classes"]!.AsArray();
        Assert.Equal(["interactive", "batch"], classes.Select(c => (string)c!["name"]!));
        Assert.True((bool)classes[0]!["met"]! && (double)classes[0]!["ttft_p99_ms"]! <= 500);

        using var svg = await client.GetAsync("/v1/factory/plan?model=llama-3.1-70b&hardware=h200-sxm&format=svg");
        Assert.Equal("image/svg+xml", svg.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("<svg", await svg.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/v1/factory/plan", "model")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&isl=-4", "isl")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&format=png", "format")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&devices=8&tokens_per_day=1e9", "devices")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&osl=40000", "osl")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&color=red", "color")]
    [InlineData("/v1/factory/plan?model=/etc/passwd.gguf", "model")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&class=a:x", "class")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&class=a:1&class=a:2", "class")]
    [InlineData("/v1/factory/plan?model=llama-3.1-8b&class=a:1&ttft_p99_ms=5", "ttft_p99_ms")]
    public async Task Bad_queries_are_a_400_naming_the_parameter(string path, string param)
    {
        using var response = await fixture.Server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
    }

    /// <summary>A model name is looked up in the catalog only: a file beside the server was opened and its first bytes told back.</summary>
    [Fact]
    public async Task A_model_name_that_is_a_file_on_the_server_is_never_opened()
    {
        string name = $"plan-probe-{Guid.NewGuid():N}.txt";
        await File.WriteAllTextAsync(name, "not a model");
        try
        {
            using var response = await fixture.Server.Client.GetAsync($"/v1/factory/plan?model={name}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            string message = (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["message"]!;
            Assert.StartsWith($"Unknown model '{name}'", message);
            Assert.DoesNotContain("magic", message);
        }
        finally
        {
            File.Delete(name);
        }
    }

    /// <summary>
    /// One plan at a time, and a plan whose client left stops: a plan of 4,000 simulated requests of 32,768 tokens held a
    /// core for minutes after its client was gone, and any number could run at once.
    /// </summary>
    [Fact]
    public async Task A_second_plan_meanwhile_is_a_429_and_a_plan_stops_when_its_client_leaves()
    {
        var client = fixture.Server.Client;
        const string heavy = "/v1/factory/plan?model=llama-3.1-8b&osl=32768&class=a:1&class=b:0.001";
        using var leave = new CancellationTokenSource();
        var first = client.GetAsync(heavy, leave.Token);
        // Until the heavy plan holds the slot (on a loaded machine a light one may still get in first), then refused.
        HttpResponseMessage second;
        var busyBy = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            second = await client.GetAsync("/v1/factory/plan?model=llama-3.1-8b&hardware=h100-sxm");
            if (second.StatusCode == HttpStatusCode.TooManyRequests || DateTime.UtcNow > busyBy)
                break;
            second.Dispose();
            await Task.Delay(50);
        }
        using (second)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            Assert.NotNull(second.Headers.RetryAfter);
            Assert.Equal("planner_busy", (string?)(await second.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        }
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        // The abandoned plan gives its slot back within moments, not minutes.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        HttpStatusCode status;
        do
        {
            await Task.Delay(200);
            using var next = await client.GetAsync("/v1/factory/plan?model=llama-3.1-8b&hardware=h100-sxm");
            status = next.StatusCode;
        }
        while (status == HttpStatusCode.TooManyRequests && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.OK, status);
    }
}
