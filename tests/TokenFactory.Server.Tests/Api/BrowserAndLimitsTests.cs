using System.Net;
using System.Net.Http.Json;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// Cross-site requests from browsers are refused unless their origin is allowed (a page must not be able to use
/// a local server through its visitor's browser), and oversized request lines and headers get OpenAI's error shape.
/// </summary>
[Collection(StoriesServerCollection.Name)]
public sealed class BrowserAndLimitsTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private static readonly object Chat = new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 1 };

    private static HttpRequestMessage Post(string path, string? origin, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        return request;
    }

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/v1/completions")]
    [InlineData("/tokenize")]
    [InlineData("/admin/teams")]
    public async Task A_page_from_another_origin_is_refused(string path)
    {
        using var r = await Server.Client.SendAsync(Post(path, "http://evil.example", new { prompt = "Hi", content = "Hi", id = "t" }));
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.Forbidden, null, "origin_not_allowed");
        Assert.False(r.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task A_preflight_from_another_origin_gets_no_permission()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions")
        {
            Headers = { { "Origin", "http://evil.example" }, { "Access-Control-Request-Method", "POST" }, { "Access-Control-Request-Headers", "content-type" } },
        };
        using var r = await Server.Client.SendAsync(preflight);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.False(r.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task The_servers_own_pages_and_API_clients_without_an_origin_pass()
    {
        using var own = await Server.Client.SendAsync(Post("/v1/chat/completions", Server.BaseAddress.GetLeftPart(UriPartial.Authority), Chat));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        using var sdk = await Server.Client.SendAsync(Post("/v1/chat/completions", null, Chat));
        Assert.Equal(HttpStatusCode.OK, sdk.StatusCode);
    }

    /// <summary>
    /// A DNS-rebinding page (its name now resolving to this keyless server) sends its own origin and its own name as the
    /// Host, which match: refused unless the host is an IP address or localhost, which cannot be rebound.
    /// </summary>
    [Fact]
    public async Task Without_keys_a_rebinding_pages_same_origin_request_is_refused()
    {
        int port = Server.BaseAddress.Port;
        foreach (var (host, allowed) in new[] { ($"evil.example:{port}", false), ($"localhost:{port}", true), ($"127.0.0.1:{port}", true) })
        {
            using var request = Post("/v1/chat/completions", $"http://{host}", Chat);
            request.Headers.Host = host;
            using var r = await Server.Client.SendAsync(request);
            if (allowed)
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            else
                Assert.Contains("DNS-rebinding", (string?)(await ErrorTests.AssertErrorAsync(r, HttpStatusCode.Forbidden, null, "origin_not_allowed"))["message"]);
            // Its reads too: a same-origin GET carries no Origin, but a browser's carries Sec-Fetch-Site.
            using var read = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            read.Headers.Host = host;
            read.Headers.Add("Sec-Fetch-Site", "same-origin");
            using var answer = await Server.Client.SendAsync(read);
            Assert.Equal(allowed ? HttpStatusCode.OK : HttpStatusCode.Forbidden, answer.StatusCode);
        }
        // Clients that are not browsers (SDKs, curl) send neither header and pass by any name.
        using var sdk = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        sdk.Headers.Host = $"evil.example:{port}";
        using var passed = await Server.Client.SendAsync(sdk);
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
    }

    /// <summary>A rebinding page sends X-Forwarded-Host too: the name its connection asked for is what is judged, even from a trusted proxy's address.</summary>
    [Fact]
    public async Task A_forwarded_host_cannot_vouch_for_a_rebindable_name()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:TrustedProxies:0"] = "127.0.0.1", ["TokenFactory:TrustedProxies:1"] = "::1" });
        int port = server.BaseAddress.Port;
        using var read = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        read.Headers.Host = $"evil.example:{port}";
        read.Headers.Add("Sec-Fetch-Site", "same-origin");
        read.Headers.Add("X-Forwarded-Host", $"127.0.0.1:{port}");
        using var r = await server.Client.SendAsync(read);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
    }

    [Fact]
    public async Task An_allowed_origin_gets_CORS_permission()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:Cors:AllowedOrigins:0"] = "https://app.example" });
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions")
        {
            Headers = { { "Origin", "https://app.example" }, { "Access-Control-Request-Method", "POST" }, { "Access-Control-Request-Headers", "content-type,authorization" } },
        };
        using var allowed = await server.Client.SendAsync(preflight);
        Assert.True(allowed.IsSuccessStatusCode, $"{(int)allowed.StatusCode}");
        Assert.Equal("https://app.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        using var call = await server.Client.SendAsync(Post("/v1/chat/completions", "https://app.example", Chat));
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal("https://app.example", call.Headers.GetValues("Access-Control-Allow-Origin").Single());
        using var other = await server.Client.SendAsync(Post("/v1/chat/completions", "https://other.example", Chat));
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
    }

    [Fact]
    public async Task Oversized_headers_are_431_in_OpenAIs_shape()
    {
        using var request = Post("/v1/chat/completions", null, Chat);
        request.Headers.Add("X-Padding", new string('a', 40 * 1024));
        using var r = await Server.Client.SendAsync(request);
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.RequestHeaderFieldsTooLarge, null, "request_headers_too_large");
    }

    [Fact]
    public async Task An_oversized_URL_is_414_in_OpenAIs_shape()
    {
        using var r = await Server.Client.GetAsync("/v1/models?x=" + new string('a', 10 * 1024));
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.RequestUriTooLong, null, "url_too_long");
    }
}
