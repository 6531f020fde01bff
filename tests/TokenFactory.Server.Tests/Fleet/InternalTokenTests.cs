using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Tests.Infrastructure;
using static TokenFactory.Server.Tests.Fleet.ReplicaServer;

namespace TokenFactory.Server.Tests.Fleet;

/// <summary>A replica answers only its router (the internal token), whose requests it runs without admitting them on its own floor.</summary>
public sealed class InternalTokenTests
{
    [Fact]
    public async Task With_an_internal_token_only_the_router_is_served_and_health_stays_open()
    {
        await using var server = await ReplicaServer.StartAsync();
        using (var health = await server.Client.GetAsync("/health"))
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        foreach (string? token in new[] { null, "wrong", Token + "x" })
        {
            using var chat = await server.Client.SendAsync(ChatRequest(Hello(), token));
            await Api.ErrorTests.AssertErrorAsync(chat, HttpStatusCode.Unauthorized, null, "invalid_internal_token");
            foreach (string path in new[] { "/v1/models", "/metrics", ReplicaEndpoints.Status, "/admin/teams" })
            {
                using var other = await server.Client.SendAsync(Get(path, token));
                await Api.ErrorTests.AssertErrorAsync(other, HttpStatusCode.Unauthorized, null, "invalid_internal_token");
            }
        }

        // No API key exists on this replica's floor: the router's request runs because the floor does not admit it.
        using var served = await server.Client.SendAsync(ChatRequest(Hello()));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(4, (int)JsonNode.Parse(await served.Content.ReadAsStringAsync())!["usage"]!["completion_tokens"]!);
        using (var models = await server.Client.SendAsync(Get("/v1/models")))
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        // Counted in the metrics, but no ledger line and no refusal row: the router's ledger is the authority.
        Assert.Equal(1, await MetricAsync(server, "tokenfactory_generations_finished_total"));
        Assert.Empty(await server.Floor.Store.ListUsageAsync());
        await server.Floor.Refusals.FlushAsync(CancellationToken.None);
        Assert.Empty(await server.Floor.Store.ListRefusalsAsync());
    }

    [Fact]
    public async Task The_router_sets_the_response_id_the_tenant_and_the_priority()
    {
        var engine = new RecordingEngine();
        await using var server = await ReplicaServer.StartAsync(engine);
        using var chat = await server.Client.SendAsync(ChatRequest(Hello(), Token,
            (FleetHeaders.RequestId, "chatcmpl-router-42"), (FleetHeaders.Tenant, "team:research"), (FleetHeaders.Priority, "interactive")));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal("chatcmpl-router-42", (string)JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["id"]!);
        Assert.True(engine.Groups.TryDequeue(out var group));
        Assert.Equal(("team:research", PriorityClass.Interactive), (group.Tenant, group.Priority));

        using var completion = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { prompt = "Once", max_tokens = 2 }),
            Headers = { { "Authorization", "Bearer " + Token }, { FleetHeaders.RequestId, "cmpl-router-43" }, { FleetHeaders.Priority, "batch" } },
        });
        Assert.Equal("cmpl-router-43", (string)JsonNode.Parse(await completion.Content.ReadAsStringAsync())!["id"]!);
        Assert.True(engine.Groups.TryDequeue(out group));
        Assert.Equal(PriorityClass.Batch, group.Priority);

        // Without the headers: a generated id, standard class, the usual tenant (no key, no user: the client's address).
        using var plain = await server.Client.SendAsync(ChatRequest(Hello()));
        Assert.StartsWith("chatcmpl-", (string)JsonNode.Parse(await plain.Content.ReadAsStringAsync())!["id"]!);
        Assert.True(engine.Groups.TryDequeue(out group));
        Assert.Equal(("127.0.0.1", PriorityClass.Standard), (group.Tenant, group.Priority));
    }

    [Theory]
    [InlineData(FleetHeaders.Priority, "urgent")]
    [InlineData(FleetHeaders.RequestId, "has spaces")]
    [InlineData(FleetHeaders.Tenant, "")]
    public async Task A_malformed_router_header_is_refused_naming_it(string header, string value)
    {
        await using var server = await ReplicaServer.StartAsync();
        using var chat = await server.Client.SendAsync(ChatRequest(Hello(), Token, (header, value)));
        await Api.ErrorTests.AssertErrorAsync(chat, HttpStatusCode.BadRequest, header, "invalid_header");
    }

    [Theory]
    [InlineData(FleetHeaders.Tenant, "someone-else")]
    [InlineData(FleetHeaders.Priority, "interactive")]
    [InlineData(FleetHeaders.RequestId, "chatcmpl-mine")]
    public async Task Router_headers_from_anyone_but_the_router_are_refused_not_ignored(string header, string value)
    {
        await using var server = await ServerInstance.StartAsync(); // no internal token: not a replica
        using var chat = await server.Client.SendAsync(ChatRequest(Hello(), token: null, (header, value)));
        await Api.ErrorTests.AssertErrorAsync(chat, HttpStatusCode.BadRequest, header, "untrusted_header");
        using var health = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/health") { Headers = { { header, value } } });
        await Api.ErrorTests.AssertErrorAsync(health, HttpStatusCode.BadRequest, header, "untrusted_header");
    }

    private static Task<double> MetricAsync(ServerInstance server, string sample)
    {
        // /metrics needs the token on a replica.
        var client = server.Client;
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return server.MetricAsync(sample);
    }
}
