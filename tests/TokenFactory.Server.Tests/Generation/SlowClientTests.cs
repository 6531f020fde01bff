using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Engine;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// A client that stops reading its stream (it stays connected): the server stops generating for it once the small
/// buffers between the engine and the socket are full, instead of computing and holding its whole answer, and sends the
/// rest when it reads again.
/// </summary>
public sealed class SlowClientTests
{
    [Fact]
    public async Task A_client_that_stops_reading_pauses_its_generation_and_gets_all_of_it_when_it_reads_again()
    {
        // Small socket buffers on both ends (a fixed size also turns the kernel's growing of them off), so what waits
        // between the engine and the client is the server's own buffering.
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ContextLength"] = "2048" }, services: services =>
            services.Configure<SocketTransportOptions>(o => o.CreateBoundListenSocket = endpoint =>
            {
                var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                socket.SendBufferSize = 16 * 1024; // accepted sockets inherit it
                return socket;
            }));
        using var client = new HttpClient(new SocketsHttpHandler
        {
            MaxResponseDrainSize = 0,
            ConnectCallback = async (context, cancellation) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 8 * 1024 };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };

        // 1,900 tokens with 20 alternatives each are about 5 MB of events; stories260K makes them in well under a second.
        int maxTokens = 1900;
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new
            {
                messages = new[] { new { role = "user", content = "Tell me a story." } },
                max_tokens = maxTokens, temperature = 0, stream = true, ignore_eos = true, logprobs = true, top_logprobs = 20,
            }),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? first = await reader.ReadLineAsync();
        Assert.StartsWith("data: ", first);

        // Stop reading until the engine's decoding stands still.
        var engine = (TokenFactory.Engine.Batching.BatchingEngine)server.Engine;
        long decoded = -1;
        for (int i = 0; i < 100 && engine.Counters.DecodeTokens != decoded; i++)
        {
            decoded = engine.Counters.DecodeTokens;
            await Task.Delay(300);
        }
        Assert.Equal(decoded, engine.Counters.DecodeTokens);
        Assert.InRange(decoded, 1, maxTokens / 4);
        Assert.Equal(1, engine.Load.Running); // paused, not ended

        int tokens = 0;
        bool done = false;
        for (string? line = first; line != null; line = await reader.ReadLineAsync())
        {
            if (line == "data: [DONE]")
                done = true;
            else if (line.StartsWith("data: ", StringComparison.Ordinal)
                && System.Text.Json.Nodes.JsonNode.Parse(line[6..])!["choices"]!.AsArray() is [{ } choice]
                && choice["logprobs"]?["content"] is System.Text.Json.Nodes.JsonArray content)
                tokens += content.Count;
        }
        Assert.True(done);
        Assert.Equal(maxTokens, tokens);
        await server.WaitForIdleAsync();
        Assert.Equal(engine.Counters.KvBlocksTotal, engine.Counters.KvBlocksFree);
    }
}
