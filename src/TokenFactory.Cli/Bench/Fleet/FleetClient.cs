using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>What one request through the fleet saw: status, time to the first token and to the end, the error it ended with.</summary>
internal sealed record FleetResult(int Status, double TtftMs, double E2eMs, int Tokens, string? ErrorCode, bool Streamed, string? Replica)
{
    /// <summary>Prompt tokens and those the replica found in its prefix cache, from the usage (when it came).</summary>
    public long PromptTokens { get; init; }
    public long CachedTokens { get; init; }

    public bool Ok => Status == 200 && ErrorCode is null;
    /// <summary>A stream that had started (its headers came) and then ended with an error event.</summary>
    public bool CutMidStream => Streamed && Status == 200 && ErrorCode is not null;
}

/// <summary>Sends one OpenAI request (streamed or not) and times it; never throws for an HTTP-level failure.</summary>
internal static class FleetClient
{
    public static async Task<FleetResult> SendAsync(HttpClient http, Uri url, JsonObject body, string? apiKey = null, CancellationToken cancellation = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        if (apiKey is not null)
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        bool stream = (bool?)body["stream"] == true;
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellation);
            string? replica = response.Headers.TryGetValues("x-tokenfactory-replica", out var names) ? names.FirstOrDefault() : null;
            if (!response.IsSuccessStatusCode || !stream)
            {
                string text = await response.Content.ReadAsStringAsync(cancellation);
                double e2e = clock.Elapsed.TotalMilliseconds;
                string? code = response.IsSuccessStatusCode ? null : TryCode(text) ?? $"http_{(int)response.StatusCode}";
                return new FleetResult((int)response.StatusCode, e2e, e2e, 0, code, false, replica);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
            double ttft = 0;
            int tokens = 0;
            long prompt = 0, cached = 0;
            string? error = null;
            while (await reader.ReadLineAsync(cancellation) is string line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    continue;
                if (line == "data: [DONE]")
                    break;
                var chunk = JsonNode.Parse(line.AsSpan(6).ToString());
                if (chunk?["error"] is JsonObject e)
                {
                    error = (string?)e["code"] ?? "error";
                    continue;
                }
                if (chunk?["usage"] is JsonObject usage)
                {
                    prompt = (long?)usage["prompt_tokens"] ?? 0;
                    cached = (long?)usage["prompt_tokens_details"]?["cached_tokens"] ?? 0;
                }
                if (chunk?["choices"] is JsonArray { Count: > 0 } choices
                    && ((string?)choices[0]?["delta"]?["content"] ?? (string?)choices[0]?["text"]) is { Length: > 0 })
                {
                    if (tokens++ == 0)
                        ttft = clock.Elapsed.TotalMilliseconds;
                }
            }
            return new FleetResult(200, ttft, clock.Elapsed.TotalMilliseconds, tokens, error ?? (tokens == 0 ? "no_tokens" : null), true, replica)
            {
                PromptTokens = prompt,
                CachedTokens = cached,
            };
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new FleetResult(0, 0, clock.Elapsed.TotalMilliseconds, 0, "connection_failed", stream, null);
        }
    }

    private static string? TryCode(string text)
    {
        try
        {
            return (string?)JsonNode.Parse(text)?["error"]?["code"];
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
