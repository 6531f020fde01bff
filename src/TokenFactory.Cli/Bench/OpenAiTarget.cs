using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Bench;

/// <summary>
/// Streams completions from an OpenAI-compatible server (ours, llama.cpp's llama-server, vLLM) over
/// server-sent events. Every SSE chunk with text counts as a token arrival (servers send one token
/// per chunk); the token count comes from the usage the server reports (stream_options.include_usage),
/// falling back to the number of content chunks. <c>ignore_eos</c> is sent so generations run to
/// max_tokens, as vLLM's and llama.cpp's servers accept it.
/// </summary>
public sealed class OpenAiTarget(HttpClient http, Uri baseUrl, string model, bool chat) : IBenchTarget
{
    public async Task<RequestResult> SendAsync(BenchRequest request, Action onToken, CancellationToken cancellation)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = request.OutputTokens,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
            ["ignore_eos"] = true,
        };
        if (chat)
            body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = request.Prompt });
        else
            body["prompt"] = request.Prompt;
        var url = new Uri(baseUrl, chat ? "v1/chat/completions" : "v1/completions");
        using var message = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellation);
        if (!response.IsSuccessStatusCode)
        {
            string text = await response.Content.ReadAsStringAsync(cancellation);
            return new RequestResult { Success = false, Error = $"HTTP {(int)response.StatusCode}: {Truncate(text)}" };
        }
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
        double ttft = 0, last = 0;
        int chunks = 0;
        int? promptTokens = null, completionTokens = null;
        var gaps = new List<double>();
        while (await reader.ReadLineAsync(cancellation) is string line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
                continue;
            var data = line.AsSpan(5).Trim();
            if (data.SequenceEqual("[DONE]"))
                break;
            var json = JsonNode.Parse(data.ToString());
            if (json?["error"] is JsonNode error)
                return new RequestResult { Success = false, Error = Truncate(error.ToJsonString()) };
            if (json?["usage"] is JsonObject usage)
            {
                promptTokens = usage["prompt_tokens"]?.GetValue<int>();
                completionTokens = usage["completion_tokens"]?.GetValue<int>();
            }
            if (json?["choices"] is JsonArray { Count: > 0 } choices && ContentOf(choices[0]) is { Length: > 0 })
            {
                double now = clock.Elapsed.TotalMilliseconds;
                if (chunks == 0)
                    ttft = now;
                else
                    gaps.Add(now - last);
                last = now;
                chunks++;
                onToken();
            }
        }
        double latency = clock.Elapsed.TotalMilliseconds;
        if (chunks == 0)
            return new RequestResult { Success = false, Error = "the stream carried no tokens" };
        return new RequestResult
        {
            Success = true,
            PromptTokens = promptTokens ?? request.PromptTokensEstimate,
            OutputTokens = completionTokens ?? chunks,
            TtftMs = ttft,
            LatencyMs = latency,
            InterTokenMs = gaps,
        };
    }

    private string? ContentOf(JsonNode? choice) =>
        chat ? choice?["delta"]?["content"]?.GetValue<string>() : choice?["text"]?.GetValue<string>();

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "…" : s;
}
