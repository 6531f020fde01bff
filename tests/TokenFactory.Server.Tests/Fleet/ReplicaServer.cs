using System.Net.Http.Headers;
using System.Net.Http.Json;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Fleet;

/// <summary>Starting a server as a fleet replica, and sending it requests as the router and as anyone else would.</summary>
internal static class ReplicaServer
{
    public const string Token = "internal-token-for-tests-0123456789";

    /// <summary>A replica with <see cref="Token"/>; API keys required, so a request that reaches the engine proves it bypassed the floor.</summary>
    public static Task<ServerInstance> StartAsync(IEngineFactory? engine = null, Dictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?> { ["TokenFactory:Fleet:InternalToken"] = Token, ["TokenFactory:Floor:Auth"] = "keys" };
        foreach (var (k, v) in settings ?? [])
            all[k] = v;
        return ServerInstance.StartAsync(all, engine);
    }

    public static HttpRequestMessage ChatRequest(object body, string? token = Token, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var (name, value) in headers)
            request.Headers.Add(name, value);
        return request;
    }

    public static HttpRequestMessage Get(string path, string? token = Token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    public static object Hello(int maxTokens = 4, bool stream = false) => stream
        ? new { messages = new[] { new { role = "user", content = "Hello" } }, max_tokens = maxTokens, stream = true, stream_options = new { include_usage = true } }
        : new { messages = new[] { new { role = "user", content = "Hello" } }, max_tokens = maxTokens };
}
