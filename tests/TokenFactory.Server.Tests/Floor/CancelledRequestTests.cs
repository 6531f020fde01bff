using System.Net.Http.Json;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// A request the client abandons is in the ledger as what happened: 499, with the tokens the engine really
/// generated before it stopped, streamed or not.
/// </summary>
public sealed class CancelledRequestTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_abandoned_request_is_recorded_as_499_with_the_tokens_generated(bool stream)
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ContextLength"] = "2048" });
        const int clients = 6, maxTokens = 1900; // seconds of work for stories260K, so every client leaves mid-generation
        var sends = new List<Task>();
        for (int i = 0; i < clients; i++)
            sends.Add(AbandonAsync(server, stream, maxTokens));
        await Task.WhenAll(sends);

        var ledger = await WaitForLedgerAsync(server.Floor.Store, clients);
        await server.WaitForIdleAsync();
        // A client the machine kept from leaving in time (a loaded CI runner) got its whole answer: that line is rightly 200.
        // Every other is 499 with what was generated until the engine stopped.
        var abandoned = ledger.Where(e => e.Status != 200).ToList();
        Assert.All(ledger.Except(abandoned), e => Assert.Equal(maxTokens, e.CompletionTokens));
        Assert.True(abandoned.Count >= clients - 1, $"{clients - abandoned.Count} of {clients} clients did not leave before their answer was done");
        Assert.All(abandoned, e => Assert.Equal(499, e.Status));
        Assert.All(abandoned, e => Assert.InRange(e.CompletionTokens, 1, maxTokens - 1));
        // What the ledger charged is what the engine generated, token for token.
        Assert.Equal(await server.MetricAsync("tokenfactory_generation_tokens_total"), ledger.Sum(e => e.CompletionTokens));
        Assert.Equal(abandoned.Count, await server.MetricAsync("tokenfactory_generations_finished_total", ("finish_reason", "cancelled")));
    }

    /// <summary>Sends a long generation and goes away once the engine has produced some of it.</summary>
    private static async Task AbandonAsync(ServerInstance server, bool stream, int maxTokens)
    {
        using var leave = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new
            {
                messages = new[] { new { role = "user", content = "Tell me a story." } },
                max_tokens = maxTokens, temperature = 0, ignore_eos = true, stream,
            }),
        };
        var sending = server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, leave.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await server.MetricAsync("tokenfactory_time_to_first_token_seconds_count") == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(5);
        await Task.Delay(100);
        await leave.CancelAsync();
        try
        {
            using var response = await sending;
        }
        catch (OperationCanceledException)
        {
            // the client gave up: that is the point
        }
    }

    private static async Task<List<UsageRecord>> WaitForLedgerAsync(IFloorStore store, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var rows = (await store.ListUsageAsync()).ToList();
            if (rows.Count >= count || DateTime.UtcNow > deadline)
            {
                Assert.Equal(count, rows.Count);
                return rows;
            }
            await Task.Delay(20);
        }
    }
}
