using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// RPM and TPM token buckets per key and team, answered as OpenAI does: 429, Retry-After, x-ratelimit-*. The server
/// runs on a fake clock, so waits are exact and a test moves time instead of sleeping.
/// </summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private FloorServer _floor = null!;

    public async Task InitializeAsync() => _floor = await FloorServer.StartAsync(services: s => s.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync() => await _floor.DisposeAsync();

    private static readonly ChatMessage[] Messages = [new UserChatMessage("Once upon a time")];

    private static string Header(PipelineResponse response, string name) =>
        response.Headers.TryGetValue(name, out var value) ? value! : throw new Xunit.Sdk.XunitException($"no {name} header");

    [Fact]
    public async Task Requests_per_minute_are_limited_with_OpenAI_headers()
    {
        var key = await _floor.NewKeyAsync(rpm: 3);
        var chat = _floor.Chat(key.Secret!);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 2 };
        for (int i = 0; i < 3; i++)
        {
            var ok = await chat.CompleteChatAsync(Messages, options);
            var raw = ok.GetRawResponse();
            Assert.Equal("3", Header(raw, "x-ratelimit-limit-requests"));
            Assert.Equal((2 - i).ToString(CultureInfo.InvariantCulture), Header(raw, "x-ratelimit-remaining-requests"));
            Assert.EndsWith("s", Header(raw, "x-ratelimit-reset-requests"));
        }
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(Messages, options));
        Assert.Equal(429, e.Status);
        var response = e.GetRawResponse()!;
        var error = JsonNode.Parse(response.Content.ToString())!["error"]!;
        Assert.Equal("rate_limit_exceeded", (string?)error["code"]);
        Assert.Equal("requests", (string?)error["type"]);
        Assert.Equal("20", Header(response, "Retry-After")); // a request refills every 20 s at 3 per minute
        Assert.Equal("0", Header(response, "x-ratelimit-remaining-requests"));
        _clock.Advance(TimeSpan.FromSeconds(19));
        Assert.Equal(429, (await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(Messages, options))).Status);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await chat.CompleteChatAsync(Messages, options); // refilled on the dot

        // Another team's key is not affected.
        var other = await _floor.NewKeyAsync(rpm: 3);
        await _floor.Chat(other.Secret!).CompleteChatAsync(Messages, options);
    }

    [Fact]
    public async Task Tokens_per_minute_reserve_the_worst_case_and_return_what_was_not_used()
    {
        // A team limit: both of its keys draw on it.
        var team = (await _floor.CreateTeamAsync(FloorServer.NewTeamId(), tpm: 300)).Id!;
        var first = _floor.Chat((await _floor.CreateKeyAsync(team, "a")).Secret!);
        var second = _floor.Chat((await _floor.CreateKeyAsync(team, "b")).Secret!);

        // A stop sequence ends it early, so most of the reserved worst case comes back at settlement.
        var early = new ChatCompletionOptions { MaxOutputTokenCount = 100, Temperature = 0 };
        early.StopSequences.Add(" ");
        var ok = await first.CompleteChatAsync(Messages, early);
        var usage = ok.Value.Usage;
        Assert.True(usage.OutputTokenCount < 50, $"generated {usage.OutputTokenCount}");
        long worst = usage.InputTokenCount + 100;
        long remainingAtAdmission = long.Parse(Header(ok.GetRawResponse(), "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture);
        Assert.Equal("300", Header(ok.GetRawResponse(), "x-ratelimit-limit-tokens"));
        Assert.Equal(300 - worst, remainingAtAdmission); // the clock stands still: no refill

        // A request that can never fit is refused without a Retry-After; one that fits later gets one.
        var never = await Assert.ThrowsAsync<ClientResultException>(() => second.CompleteChatAsync(Messages, new ChatCompletionOptions { MaxOutputTokenCount = 400 }));
        Assert.Equal(429, never.Status);
        Assert.Equal("tokens", (string?)JsonNode.Parse(never.GetRawResponse()!.Content.ToString())!["error"]!["type"]);
        Assert.False(never.GetRawResponse()!.Headers.TryGetValue("Retry-After", out _));

        // After settlement the unused part of the first request's worst case came back.
        var probe = await second.CompleteChatAsync(Messages, new ChatCompletionOptions { MaxOutputTokenCount = 1 });
        long remaining = long.Parse(Header(probe.GetRawResponse(), "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture);
        long used = usage.TotalTokenCount;
        long probeWorst = probe.Value.Usage.InputTokenCount + 1;
        Assert.Equal(300 - used - probeWorst, remaining);

        var drained = await Assert.ThrowsAsync<ClientResultException>(() => second.CompleteChatAsync(Messages, new ChatCompletionOptions { MaxOutputTokenCount = (int)remaining }));
        Assert.Equal(429, drained.Status);
        // It needs its prompt's tokens beyond what is left, refilled at 5 per second (300 per minute).
        long missing = probeWorst - 1;
        Assert.Equal(Math.Max(1, (int)Math.Ceiling(missing / 5.0)), int.Parse(Header(drained.GetRawResponse()!, "Retry-After"), CultureInfo.InvariantCulture));
    }
}
