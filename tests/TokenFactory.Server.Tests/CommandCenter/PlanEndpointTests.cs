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
}
