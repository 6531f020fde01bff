using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Tests.Infrastructure;
using static TokenFactory.Server.Tests.Fleet.ReplicaServer;

namespace TokenFactory.Server.Tests.Fleet;

/// <summary>GET /internal/status: what the router polls to place requests.</summary>
public sealed class StatusEndpointTests
{
    private static readonly string[] Fields =
    [
        "model", "state", "context_length", "kv_block_size", "kv_blocks_total", "kv_blocks_free", "running", "max_running", "waiting",
        "waiting_requests", "max_waiting_requests", "pending_prefill_tokens", "prefill_tokens_per_second", "decode_tokens_per_second",
        "prefix_caching", "draining", "engine",
    ];

    private static async Task<JsonObject> StatusAsync(ServerInstance server, string? token = null)
    {
        using var response = await server.Client.SendAsync(Get(ReplicaEndpoints.Status, token));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        // A replica still loading has no engine to report on.
        var expected = (string?)status["state"] == "loading" ? Fields.Where(f => f != "engine") : Fields;
        Assert.Equal(expected.Order(), status.Select(kv => kv.Key).Order());
        return status;
    }

    [Fact]
    public async Task Without_a_token_it_is_open_and_reports_the_engine_and_its_measured_throughput()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:MaxRunningSequences"] = "8", ["TokenFactory:MaxWaitingRequests"] = "5" });
        var idle = await StatusAsync(server);
        Assert.Equal(("stories260K", "ready", 512, 16), ((string)idle["model"]!, (string)idle["state"]!, (int)idle["context_length"]!, (int)idle["kv_block_size"]!));
        Assert.Equal((8, 5, true, false), ((int)idle["max_running"]!, (int)idle["max_waiting_requests"]!, (bool)idle["prefix_caching"]!, (bool)idle["draining"]!));
        Assert.True((int)idle["kv_blocks_total"]! > 0);
        Assert.Equal((int)idle["kv_blocks_total"]!, (int)idle["kv_blocks_free"]!);
        Assert.Equal((0, 0, 0, 0L), ((int)idle["running"]!, (int)idle["waiting"]!, (int)idle["waiting_requests"]!, (long)idle["pending_prefill_tokens"]!));
        Assert.Equal((0.0, 0.0), ((double)idle["prefill_tokens_per_second"]!, (double)idle["decode_tokens_per_second"]!));

        using (var chat = await server.PostJsonAsync("/v1/chat/completions", Hello(maxTokens: 8)))
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        var after = await StatusAsync(server);
        Assert.True((double)after["prefill_tokens_per_second"]! > 0);
        Assert.True((double)after["decode_tokens_per_second"]! > 0);
        // The engine's counters and its model's shape, for the router's command center.
        var engine = after["engine"]!;
        Assert.True((double)engine["busy_seconds"]! > 0);
        Assert.True((long)engine["steps"]! >= 8);
        Assert.True((long)engine["scheduled_sequences"]! >= (long)engine["steps"]!);
        Assert.True((long)engine["kv_bytes_per_token"]! > 0);
        Assert.Equal("llama", (string?)engine["architecture"]);
        Assert.Equal("F32", (string?)engine["quantization"]);
        Assert.True((double)engine["energy_joules"]! > 0);
        Assert.True((bool)engine["energy_estimated"]!);
    }

    [Fact]
    public async Task It_counts_the_prompt_work_waiting_and_running()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(engineFactory: new StatusEngine(engine));
        var status = await StatusAsync(server);
        Assert.Equal((3, 1234L, 7), ((int)status["running"]!, (long)status["pending_prefill_tokens"]!, (int)status["waiting_requests"]!));
    }

    [Fact]
    public async Task It_says_loading_until_the_model_is_ready()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var factory = new BlockingFactory(release.Task);
        await using var server = await ServerInstance.StartAsync(engineFactory: factory, waitReady: false);
        var loading = await StatusAsync(server);
        Assert.Equal(("loading", "stories260K", 0, false), ((string)loading["state"]!, (string)loading["model"]!, (int)loading["context_length"]!, (bool)loading["draining"]!));
        release.SetResult();
        await server.WaitForHealthAsync(200);
        Assert.Equal("ready", (string)(await StatusAsync(server))["state"]!);
    }

    [Fact]
    public async Task On_a_replica_it_needs_the_internal_token()
    {
        await using var server = await ReplicaServer.StartAsync();
        using (var anonymous = await server.Client.SendAsync(Get(ReplicaEndpoints.Status, token: null)))
            await Api.ErrorTests.AssertErrorAsync(anonymous, HttpStatusCode.Unauthorized, null, "invalid_internal_token");
        Assert.Equal("ready", (string)(await StatusAsync(server, Token))["state"]!);
    }

    private sealed class BlockingFactory(Task release) : IEngineFactory
    {
        public IInferenceEngine Create(ModelSource source)
        {
            release.Wait();
            return new ServerInstance.EngineFactory(new EngineOptions { ContextLength = 256, Threads = 1 }).Create(source);
        }
    }

    /// <summary>An engine reporting a fixed status, so the endpoint is seen to pass every figure through.</summary>
    private sealed class StatusEngine(GatedEngine inner) : IEngineFactory
    {
        public IInferenceEngine Create(ModelSource source) => new Reporting(inner);

        private sealed class Reporting(GatedEngine inner) : IInferenceEngine
        {
            public TokenFactory.Models.IModelFile Model => inner.Model;
            public TokenFactory.Tokenization.Tokenizer Tokenizer => inner.Tokenizer;
            public TokenFactory.Chat.ChatTemplate ChatTemplate => inner.ChatTemplate;
            public bool HasOwnChatTemplate => false;
            public int ContextLength => inner.ContextLength;
            public EngineLoad Load => inner.Load;
            public EngineStatus Status => new() { Running = 3, PendingPrefillTokens = 1234, WaitingRequests = 7 };
            public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default) => inner.GenerateAsync(request, cancellation);
            public void Dispose() => inner.Dispose();
        }
    }
}
