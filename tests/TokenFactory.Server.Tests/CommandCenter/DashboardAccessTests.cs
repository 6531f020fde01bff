using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.CommandCenter;

/// <summary>With keys on, the command center answers only to the admin key and the read-only viewer key, and shows no secret.</summary>
public sealed class DashboardAccessTests
{
    private const string ViewerKey = "test-viewer-key-41c2e8";

    private static Task<FloorServer> StartAsync(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?> { ["TokenFactory:Floor:ViewerKey"] = ViewerKey };
        foreach (var (k, v) in more ?? [])
            settings[k] = v;
        return FloorServer.StartAsync(settings: settings);
    }

    private static HttpClient Client(FloorServer floor, string? bearer = null, bool cookies = false)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = cookies, AllowAutoRedirect = false }) { BaseAddress = floor.Server.BaseAddress };
        if (bearer is not null)
            client.DefaultRequestHeaders.Authorization = new("Bearer", bearer);
        return client;
    }

    [Fact]
    public async Task Without_a_key_the_page_is_the_sign_in_form_and_every_data_endpoint_is_401()
    {
        await using var floor = await StartAsync();
        using var anonymous = Client(floor);
        using (var page = await anonymous.GetAsync("/dashboard"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            string html = await page.Content.ReadAsStringAsync();
            Assert.Contains("id=\"signin\"", html);
            Assert.DoesNotContain("app.js", html);
        }
        foreach (string path in new[] { "/v1/factory/now", "/v1/factory/history", "/v1/factory/stream", "/v1/factory/teams", "/v1/factory/plan?model=llama-3.1-8b" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("invalid_viewer_key", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        }
        using var api = Client(floor, (await floor.NewKeyAsync()).Secret); // an API key is not a viewer
        using (var response = await api.GetAsync("/v1/factory/now"))
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using (var redirect = await anonymous.GetAsync("/"))
            Assert.Equal("/dashboard", redirect.Headers.Location?.ToString());
    }

    [Fact]
    public async Task The_viewer_key_reads_the_factory_and_nothing_else()
    {
        await using var floor = await StartAsync();
        using var viewer = Client(floor, ViewerKey);
        var now = (await viewer.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!;
        Assert.Equal("viewer", (string?)now["role"]);
        using (var teams = await viewer.GetAsync("/v1/factory/teams"))
            Assert.Equal(HttpStatusCode.OK, teams.StatusCode);
        using (var admin = await viewer.GetAsync("/admin/keys"))
            Assert.Equal(HttpStatusCode.Unauthorized, admin.StatusCode);
        using (var generate = await viewer.PostAsJsonAsync("/v1/completions", new { model = ServerInstance.ModelName, prompt = "x", max_tokens = 1 }))
            Assert.Equal(HttpStatusCode.Unauthorized, generate.StatusCode);
    }

    /// <summary>
    /// Behind a TLS-terminating proxy named in TrustedProxies, the page's sign-in is over https to the public name: it
    /// passes the origin check and its cookie is Secure (it was refused 403 as cross-origin, and never Secure).
    /// </summary>
    [Fact]
    public async Task Behind_a_trusted_https_proxy_the_page_signs_in_with_a_secure_cookie()
    {
        await using var floor = await StartAsync(new() { ["TokenFactory:TrustedProxies:0"] = "127.0.0.1", ["TokenFactory:TrustedProxies:1"] = "::1" });
        using var proxied = Client(floor);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/dashboard/session") { Content = JsonContent.Create(new { key = ViewerKey }) };
        request.Headers.Add("Origin", "https://factory.example");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "factory.example");
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        using var signIn = await proxied.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        Assert.Contains("secure", Assert.Single(signIn.Headers.GetValues("Set-Cookie")), StringComparison.OrdinalIgnoreCase);
        // Not from a trusted proxy (none is by default): the same headers change nothing.
        await using var strict = await StartAsync();
        using var direct = Client(strict);
        using var again = new HttpRequestMessage(HttpMethod.Post, "/dashboard/session") { Content = JsonContent.Create(new { key = ViewerKey }) };
        again.Headers.Add("Origin", "https://factory.example");
        again.Headers.Add("X-Forwarded-Proto", "https");
        again.Headers.Add("X-Forwarded-Host", "factory.example");
        using var refused = await direct.SendAsync(again);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task Signing_in_sets_an_http_only_strict_session_cookie_that_is_not_the_key_and_signing_out_ends_it()
    {
        await using var floor = await StartAsync();
        using var browser = Client(floor, cookies: true);
        // A form post (not JSON) is refused as such, not a 500.
        using (var form = await browser.PostAsync("/dashboard/session", new StringContent("key=" + ViewerKey, System.Text.Encoding.UTF8, "application/x-www-form-urlencoded")))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
            Assert.False(form.Headers.Contains("Set-Cookie"));
        }
        using (var wrong = await browser.PostAsJsonAsync("/dashboard/session", new { key = "not-the-key" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.False(wrong.Headers.Contains("Set-Cookie"));
        }
        using (var signIn = await browser.PostAsJsonAsync("/dashboard/session", new { key = ViewerKey }))
        {
            Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
            string cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith("tf_session=", cookie);
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("path=/", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(ViewerKey, cookie);
            Assert.DoesNotContain(FloorServer.AdminKey, cookie);
        }
        using (var page = await browser.GetAsync("/dashboard"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("app.js", await page.Content.ReadAsStringAsync());
            Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        }
        Assert.Equal("viewer", (string?)(await browser.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!["role"]);
        using (var admin = await browser.GetAsync("/admin/keys")) // the session opens the page, not the admin API
            Assert.Equal(HttpStatusCode.Unauthorized, admin.StatusCode);

        using (var signOut = await browser.DeleteAsync("/dashboard/session"))
            Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        using (var after = await browser.GetAsync("/v1/factory/now"))
            Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task The_admin_key_signs_in_as_admin()
    {
        await using var floor = await StartAsync();
        using var browser = Client(floor, cookies: true);
        using (var signIn = await browser.PostAsJsonAsync("/dashboard/session", new { key = FloorServer.AdminKey }))
            Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        Assert.Equal("admin", (string?)(await browser.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!["role"]);
    }

    [Fact]
    public async Task Without_keys_the_page_is_open()
    {
        await using var server = await ServerInstance.StartAsync();
        using (var page = await server.Client.GetAsync("/dashboard"))
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("open", (string?)(await server.Client.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!["role"]);
        using var asset = await server.Client.GetAsync("/dashboard/assets/vendor/uplot/uPlot.iife.min.js");
        Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
        Assert.Equal("text/javascript", asset.Content.Headers.ContentType?.MediaType);
        using var missing = await server.Client.GetAsync("/dashboard/assets/nothing.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
