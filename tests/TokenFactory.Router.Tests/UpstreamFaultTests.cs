using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TokenFactory.Floor;
using TokenFactory.Floor.Ledger;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>
/// What goes wrong while an answer is relayed (a replica's malformed chunk, the ledger refusing its line) reaches the
/// client as an OpenAI error, never as YARP's empty 502 or a stream that just stops, and the ledger records it.
/// </summary>
public sealed class UpstreamFaultTests
{

    /// <summary>Streams <paramref name="good"/> well-formed pieces, then a chunk whose delta is a string, then a normal end.</summary>
    private static Func<HttpContext, JsonObject, Task> MalformedAfter(int good) => async (context, body) =>
    {
        context.Response.ContentType = "text/event-stream";
        for (int i = 0; i < good; i++)
        {
            await context.Response.WriteAsync($"data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n");
            await context.Response.Body.FlushAsync();
        }
        await context.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"delta\":\"oops\"}]}\n\ndata: [DONE]\n\n");
    };

    [Fact]
    public async Task A_malformed_first_chunk_is_a_502_bad_upstream_response_named_by_its_replica_and_recorded_as_one()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = MalformedAfter(0);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(stub.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!.AsObject();
        Assert.Equal("bad_upstream_response", (string?)error["code"]);
        Assert.Equal(["message", "type", "param", "code"], error.Select(p => p.Key));
        Assert.Equal(502, (int)Assert.Single(await router.LedgerAsync())["status"]!);
    }

    [Fact]
    public async Task A_malformed_chunk_mid_stream_ends_it_with_an_error_event_counted_as_cut_and_metered()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = MalformedAfter(2);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sse = await Sse.ReadAllAsync(response);
        Assert.True(sse.Done);
        Assert.Equal(["t0", "t1"], sse.Chunks.Where(c => c.ContainsKey("choices")).Select(c => (string?)c["choices"]![0]!["delta"]!["content"]));
        Assert.Equal("bad_upstream_response", (string?)sse.Chunks.Last()["error"]!["code"]);

        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(502, (int)line["status"]!);
        Assert.Equal(2, (long)line["completion_tokens"]!);
        Assert.Equal(1, await router.MetricAsync("tokenfactory_fleet_streams_cut_total", ("replica", stub.Name)));
    }

    [Fact]
    public async Task A_stream_that_is_only_an_error_event_is_counted_as_a_refusal_not_charged()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = async (context, body) =>
        {
            // Headers at once, then the refusal as an event (as vLLM streams a prompt longer than its context).
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: {\"error\": {\"message\": \"too long\", \"type\": \"BadRequestError\", \"code\": 400}}\n\ndata: [DONE]\n\n");
        };
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        var sse = await Sse.ReadAllAsync(response);
        Assert.True(sse.Done);
        Assert.Equal("too long", (string?)sse.Chunks.Single()["error"]!["message"]);
        Assert.Equal(1, await Eventually.HoldsAsync(router.RefusalsAsync, n => n == 1));
        Assert.Empty(await router.LedgerAsync());
    }

    [Fact]
    public async Task A_ledger_that_refuses_a_refusals_release_leaves_the_client_the_replicas_error_and_no_ledger_line()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.Error(400, "context_length_exceeded");
        // The first release of a reservation fails: the one the refused request's withdrawal writes.
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Floor:Auth"] = "keys" },
            configureServices: services => services.AddSingleton<IFloorStore>(sp =>
                FlakyFloorStore.WrapReleases(new SqliteFloorStore(sp.GetRequiredService<IOptions<FloorOptions>>().Value.ResolveDatabasePath()), releaseFailures: 1)));
        var (key, _) = await router.NewKeyAsync(lifetimeTokens: 100000);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(RouterInstance.Chat(stub.Model)) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await router.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("context_length_exceeded", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        // The release follows in the background; the refusal is counted; it never ran, so no line.
        await Eventually.HoldsAsync(async () => (double)(await router.Admin.GetFromJsonAsync<JsonObject>("/admin/budgets"))!["data"]![0]!["reserved"]!, r => r == 0);
        Assert.Equal(1, await router.RefusalsAsync());
        Assert.Empty(await router.LedgerAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_ledger_that_refuses_the_line_gives_an_OpenAI_error_and_the_line_and_release_follow_when_it_recovers(bool stream)
    {
        await using var stub = await StubReplica.StartAsync();
        // The first three writes fail: in the relay, when the router answers the client, and at the request's end; the
        // fourth (the first background retry, a second later) goes through.
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Floor:Auth"] = "keys" },
            configureServices: services => services.AddSingleton<IFloorStore>(sp =>
                FlakyFloorStore.Wrap(new SqliteFloorStore(sp.GetRequiredService<IOptions<FloorOptions>>().Value.ResolveDatabasePath()), settleFailures: 3)));
        var (key, _) = await router.NewKeyAsync(lifetimeTokens: 100000);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(RouterInstance.Chat(stub.Model, stream)) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await router.Client.SendAsync(request);
        if (stream)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var sse = await Sse.ReadAllAsync(response);
            Assert.True(sse.Done);
            Assert.Equal(3, sse.Chunks.Count(c => c.ContainsKey("choices")));
            Assert.Equal("ledger_unavailable", (string?)sse.Chunks.Last()["error"]!["code"]);
        }
        else
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("ledger_unavailable", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        }

        // Nothing leaks: the line is written once the ledger takes it, and the reservation is released with it.
        var lines = await Eventually.HoldsAsync(router.LedgerAsync, l => l.Count == 1);
        Assert.Equal(503, (int)lines[0]["status"]!);
        Assert.Equal(3, (long)lines[0]["completion_tokens"]!);
        var after = (await router.Admin.GetFromJsonAsync<JsonObject>("/admin/budgets"))!["data"]!.AsArray().Single()!;
        Assert.Equal(0, (double)after["reserved"]!);
        Assert.Equal(13, (double)after["spent"]!);
    }

    [Theory]
    [InlineData(false)] // events to a request for a whole answer
    [InlineData(true)] // a whole answer to a request for a stream
    public async Task An_answer_of_the_other_kind_than_asked_for_is_a_502_bad_upstream_response(bool stream)
    {
        await using var stub = await StubReplica.StartAsync();
        var answer = StubReplica.Answer(3);
        stub.Generate = (context, body) =>
        {
            body["stream"] = !stream; // the stub answers as if asked for the other kind
            return answer(context, body);
        };
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(stub.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        Assert.Equal("bad_upstream_response", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        Assert.Equal(502, (int)Assert.Single(await router.LedgerAsync())["status"]!);
    }
}
