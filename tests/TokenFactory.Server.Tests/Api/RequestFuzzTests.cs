using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// 600 seeded malformed requests against both generation endpoints, every field broken in every way the
/// fuzzer knows: never a 500, a stack trace in the log or a leaked KV block; every refusal in OpenAI's
/// shape; and a ledger that matches what the clients saw (each answered request one line, each refusal counted).
/// </summary>
public sealed class RequestFuzzTests
{
    private const int Seed = 20261206, Count = 600;

    [Fact]
    public async Task Malformed_requests_get_clear_errors_and_lose_nothing()
    {
        await using var server = await ServerInstance.StartAsync();
        var cases = new RequestFuzzer(Seed).Cases(Count).ToList();
        var answered = new List<string>();
        int refused = 0;
        var failures = new List<string>();
        using var gate = new SemaphoreSlim(4);
        await Task.WhenAll(cases.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                var (ok, id, problem) = await SendAsync(server, c);
                lock (failures)
                {
                    if (problem is not null)
                        failures.Add($"{c.Path} {c.Description}: {problem}");
                    else if (ok)
                        answered.Add(id!);
                    else
                        refused++;
                }
            }
            finally
            {
                gate.Release();
            }
        }));
        Assert.True(failures.Count == 0, $"{failures.Count} of {Count} cases failed:\n" + string.Join('\n', failures.Take(20)));
        Assert.Empty(server.Logs.Faults().Select(f => $"{f.Category}: {f.Message} {f.Exception?.GetType().Name}"));
        Assert.InRange(refused, Count / 2, Count); // the fuzzer mostly breaks things; some breakages are harmless (a 0, an empty string)

        await server.WaitForIdleAsync();
        Assert.Equal(0, server.Engine.Load.KvCacheUsedTokens); // no KV block left behind by a refused or broken request

        // The ledger holds one line per answered request (with the id the client saw) and counts every refusal.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<string> lines;
        while ((lines = [.. (await server.Floor.Store.ListUsageAsync(limit: 100_000)).Select(r => r.RequestId)]).Count < answered.Count && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(answered.Order(), lines.Order());
        await server.Floor.Refusals.FlushAsync();
        Assert.Equal(refused, (await server.Floor.Store.ListRefusalsAsync(limit: 100_000)).Sum(c => c.Count));
    }

    [Fact]
    public void The_fuzzer_breaks_every_field_of_both_endpoints()
    {
        var descriptions = new RequestFuzzer(Seed).Cases(Count).Select(c => (c.Path, c.Description)).ToList();
        foreach (var field in RequestFuzzer.ChatFields)
            Assert.Contains(descriptions, d => d.Path == "/v1/chat/completions" && d.Description.StartsWith(field + " = ", StringComparison.Ordinal));
        foreach (var field in RequestFuzzer.CompletionFields)
            Assert.Contains(descriptions, d => d.Path == "/v1/completions" && d.Description.StartsWith(field + " = ", StringComparison.Ordinal));
        Assert.Equal(descriptions, new RequestFuzzer(Seed).Cases(Count).Select(c => (c.Path, c.Description)).ToList()); // replayable
    }

    /// <returns>Whether the request was answered (and its id), or what is wrong with the answer.</returns>
    private static async Task<(bool Ok, string? Id, string? Problem)> SendAsync(ServerInstance server, RequestFuzzer.Case c)
    {
        var content = new ByteArrayContent(c.Body);
        if (c.ContentType is not null)
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
        using var response = await server.Client.PostAsync(c.Path, content);
        string text = await response.Content.ReadAsStringAsync();
        int status = (int)response.StatusCode;
        if (status == 200)
            return Answered(text);
        if (status is not (400 or 404 or 413 or 415) && !(status == 503 && response.Headers.RetryAfter is not null))
            return (false, null, $"status {status}: {text}");
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
            return (false, null, $"{status} without a JSON body");
        try
        {
            var error = JsonNode.Parse(text)!["error"]!.AsObject();
            if (string.IsNullOrEmpty((string?)error["message"]) || string.IsNullOrEmpty((string?)error["type"]) || !error.ContainsKey("param") || !error.ContainsKey("code"))
                return (false, null, $"{status} not in OpenAI's error shape: {text}");
            if (((string)error["message"]!).Contains("   at ", StringComparison.Ordinal))
                return (false, null, $"{status} carries a stack trace: {text}");
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            return (false, null, $"{status} body is not an error object: {text}");
        }
        return (false, null, null);
    }

    private static (bool, string?, string?) Answered(string text)
    {
        if (text.StartsWith("data: ", StringComparison.Ordinal))
        {
            if (!text.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal) || text.Contains("\"error\"", StringComparison.Ordinal))
                return (false, null, "a stream that did not end cleanly: " + text[^Math.Min(300, text.Length)..]);
            string first = text.Split("\n\n")[0]["data: ".Length..];
            return (true, (string?)JsonNode.Parse(first)!["id"], null);
        }
        var body = JsonNode.Parse(text);
        return body?["choices"] is JsonArray && body["id"] is not null ? (true, (string)body["id"]!, null) : (false, null, "200 without choices: " + text);
    }
}
