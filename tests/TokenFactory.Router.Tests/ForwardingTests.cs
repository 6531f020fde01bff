using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>What the router sends a replica and what it gives back: headers, body, relay, metering, the ledger.</summary>
public sealed class ForwardingTests
{
    private static object Chat(string model, bool stream = false, object? streamOptions = null, string? serviceTier = null) => new Dictionary<string, object?>
    {
        ["model"] = model,
        ["messages"] = new[] { new { role = "user", content = "Hello there" } },
        ["max_tokens"] = 8,
        ["stream"] = stream,
        ["stream_options"] = streamOptions,
        ["service_tier"] = serviceTier,
    }.Where(kv => kv.Value is not null).ToDictionary();

    [Fact]
    public async Task The_replica_gets_the_internal_token_and_the_routers_headers_never_the_clients_credentials()
    {
        await using var stub = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Chat(stub.Model, serviceTier: "flex")) };
        request.Headers.Add("Authorization", "Bearer sk-client-secret");
        request.Headers.Add("Cookie", "session=abc");
        using var response = await router.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var received = Assert.Single(stub.Requests);
        Assert.Equal("/v1/chat/completions", received.Path);
        Assert.Equal($"Bearer {RouterInstance.InternalToken}", received.Headers["authorization"]);
        Assert.False(received.Headers.ContainsKey("cookie"));
        Assert.Equal("127.0.0.1", received.Headers["x-tokenfactory-tenant"]); // no keys, no user: the client's address
        Assert.Equal("batch", received.Headers["x-tokenfactory-priority"]); // service_tier flex
        Assert.StartsWith("chatcmpl-", received.Headers["x-tokenfactory-request-id"]);
        Assert.False(received.Body.ContainsKey("service_tier")); // the class travels in the header; a replica would refuse it
        Assert.Equal("Hello there", (string?)received.Body["messages"]![0]!["content"]);
    }

    [Theory]
    [InlineData("x-tokenfactory-tenant", "someone-else")]
    [InlineData("x-tokenfactory-priority", "interactive")]
    public async Task A_client_sending_the_routers_own_headers_is_refused_naming_the_header(string header, string value)
    {
        await using var stub = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(Chat(stub.Model)) };
        request.Headers.Add(header, value);
        request.Headers.Add("Authorization", $"Bearer {RouterInstance.InternalToken}"); // the fleet's token does not open the router either
        using var response = await router.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("untrusted_header", (string?)error["code"]);
        Assert.Equal(header, (string?)error["param"]);
        Assert.Empty(stub.Requests);
    }

    [Fact]
    public async Task An_answer_is_relayed_named_by_its_replica_without_the_replicas_internal_usage_and_metered_in_the_ledger()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.Answer(5);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", Chat(stub.Model));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(stub.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("t0t1t2t3t4", (string?)body["choices"]![0]!["message"]!["content"]);
        Assert.Equal(5, (int)body["usage"]!["completion_tokens"]!);
        Assert.False(body["usage"]!.AsObject().ContainsKey("tokenfactory"));

        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(stub.Name, (string?)line["replica"]);
        Assert.Equal(200, (int)line["status"]!);
        Assert.Equal(10, (long)line["prompt_tokens"]!);
        Assert.Equal(5, (long)line["completion_tokens"]!);
        Assert.Equal(5.0, (double)line["energy_joules"]!, 6); // the replica's measured energy, carried over
        Assert.True((bool)line["energy_estimated"]!);
        Assert.Equal(1, await router.MetricAsync("tokenfactory_fleet_requests_total", ("replica", stub.Name), ("status", "200")));
    }

    [Fact]
    public async Task A_stream_is_relayed_event_by_event_and_the_usage_chunk_reaches_only_a_client_that_asked_for_it()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.Answer(4);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);

        using (var plain = await router.PostAsync("/v1/chat/completions", Chat(stub.Model, stream: true)))
        {
            var sse = await Sse.ReadAllAsync(plain);
            Assert.True(sse.Done);
            Assert.Equal(["t0", "t1", "t2", "t3"], sse.Chunks.Select(c => (string?)c["choices"]![0]!["delta"]!["content"]));
            Assert.DoesNotContain(sse.Chunks, c => c.ContainsKey("usage"));
        }
        // The router asked for the usage chunk although the client did not: it meters by it.
        Assert.True((bool)stub.Requests.Last().Body["stream_options"]!["include_usage"]!);

        using (var withUsage = await router.PostAsync("/v1/chat/completions", Chat(stub.Model, stream: true, streamOptions: new { include_usage = true })))
        {
            var sse = await Sse.ReadAllAsync(withUsage);
            var usage = Assert.Single(sse.Chunks, c => c.ContainsKey("usage"))["usage"]!.AsObject();
            Assert.Equal(4, (int)usage["completion_tokens"]!);
            Assert.False(usage.ContainsKey("tokenfactory"));
        }
        var ledger = await router.LedgerAsync();
        Assert.Equal(2, ledger.Count);
        Assert.All(ledger, line => Assert.Equal(4, (long)line["completion_tokens"]!));
    }

    [Fact]
    public async Task Models_are_the_union_of_the_replicas_and_each_request_goes_only_to_a_replica_serving_its_model()
    {
        await using var alpha = await StubReplica.StartAsync("alpha");
        await using var beta = await StubReplica.StartAsync("beta");
        await using var router = await RouterInstance.StartAsync([alpha.BaseAddress, beta.BaseAddress]);
        var models = (await router.Client.GetFromJsonAsync<JsonObject>("/v1/models"))!["data"]!.AsArray().Select(m => (string?)m!["id"]).ToList();
        Assert.Equal(["alpha", "beta"], models);

        for (int i = 0; i < 4; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", Chat("beta"));
            Assert.Equal(beta.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        }
        Assert.Empty(alpha.Requests);
        Assert.Equal(4, beta.Requests.Count);

        using var unknown = await router.PostAsync("/v1/chat/completions", Chat("gamma"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var error = (await unknown.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("model_not_found", (string?)error["code"]);
        Assert.Contains("alpha, beta", (string?)error["message"]);
    }

    [Fact]
    public async Task A_replica_refusing_a_request_is_relayed_as_is_and_counted_as_a_refusal_not_charged()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.Error(400, "unsupported_parameter");
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", Chat(stub.Model));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("unsupported_parameter", (string?)error["code"]);
        Assert.Equal("stub refuses: unsupported_parameter", (string?)error["message"]);
        Assert.Empty(await router.LedgerAsync());
        Assert.Equal(1, await router.RefusalsAsync());
    }

    [Fact]
    public async Task A_replica_answering_something_that_is_not_OpenAI_gives_502_bad_upstream_response()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.Garbage();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", Chat(stub.Model));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("bad_upstream_response", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        // Recorded: the replica may have computed something, and the reservation is released.
        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(502, (int)line["status"]!);
    }

    [Fact]
    public async Task A_stream_with_CRLF_lines_and_no_space_after_data_is_relayed_and_metered()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = async (context, body) =>
        {
            context.Response.ContentType = "text/event-stream";
            foreach (string piece in new[] { "a", "b", "c" })
                await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response,
                    $"data:{{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{piece}\"}}}}]}}\r\n\r\n");
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response,
                ": keep-alive\r\n\r\ndata:{\"choices\":[],\"usage\":{\"prompt_tokens\":\"ten\",\"completion_tokens\":3}}\r\n\r\ndata:[DONE]\r\n\r\n");
        };
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", Chat(stub.Model, stream: true));
        string text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("\r", text);
        Assert.Contains(": keep-alive\n\n", text); // a comment passes on as it is
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e.StartsWith("data:")).ToList();
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.Equal(["a", "b", "c"], events.Where(e => e.Contains("delta")).Select(e => (string?)JsonNode.Parse(e[5..])!["choices"]![0]!["delta"]!["content"]));
        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(200, (int)line["status"]!);
        Assert.Equal(3, (long)line["completion_tokens"]!);
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("null")]
    [InlineData("{\"error\": \"flat string\"}")]
    public async Task A_replica_error_that_is_not_an_OpenAI_error_gives_502_bad_upstream_response(string errorBody)
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = async (context, body) =>
        {
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, errorBody);
        };
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", Chat(stub.Model));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("bad_upstream_response", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
    }

    [Fact]
    public async Task Inspection_endpoints_are_relayed_to_a_replica_serving_the_model()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = (context, body) => Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, """{"tokens":[1,2,3]}""");
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/tokenize", new { model = stub.Model, content = "hello" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(stub.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        Assert.Equal([1, 2, 3], (await response.Content.ReadFromJsonAsync<JsonObject>())!["tokens"]!.AsArray().Select(t => (int)t!));
        var received = Assert.Single(stub.Requests);
        Assert.Equal("/tokenize", received.Path);
        Assert.Equal("hello", (string?)received.Body["content"]);
        Assert.Equal($"Bearer {RouterInstance.InternalToken}", received.Headers["authorization"]);
    }

    [Fact]
    public async Task Forwarded_requests_connect_within_the_configured_connect_timeout_not_YARPs_15_seconds()
    {
        await using var stub = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Router:ConnectTimeoutSeconds"] = "0.75" });
        // The client the router forwards with: YARP's cluster client. Its handler is private to HttpMessageInvoker.
        var client = router.Service<Replicas.ReplicaSet>().ClusterState!.Model.HttpClient;
        var field = typeof(HttpMessageInvoker).GetField("_handler", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);
        Assert.NotNull(field);
        var handler = Assert.IsType<SocketsHttpHandler>(field.GetValue(client));
        Assert.Equal(TimeSpan.FromSeconds(0.75), handler.ConnectTimeout);
    }
}
