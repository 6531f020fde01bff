using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary>
/// The CLI side of the server's /admin API. The CLI talks to a running server rather than opening the
/// database itself, so it works the same against SQLite, PostgreSQL and remote replicas, and every change
/// goes through the server's own validation.
/// </summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    public AdminClient(string url, string adminKey)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUri) || (baseUri.Scheme != "http" && baseUri.Scheme != "https"))
            throw new TokenFactoryException($"--url must be an http(s) URL, not '{url}'.");
        _http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
    }

    private static AdminJsonContext Json => AdminJsonContext.Relaxed;

    public Task<TeamBody> CreateTeamAsync(TeamBody body) => SendAsync(HttpMethod.Post, "/admin/teams", body, Json.TeamBody, Json.TeamBody);
    public Task<TeamBody> UpdateTeamAsync(string id, TeamBody body) => SendAsync(HttpMethod.Patch, $"/admin/teams/{Uri.EscapeDataString(id)}", body, Json.TeamBody, Json.TeamBody);
    public async Task<List<TeamBody>> ListTeamsAsync() => (await GetAsync("/admin/teams", Json.AdminListTeamBody)).Data;

    public Task<KeyBody> CreateKeyAsync(KeyBody body) => SendAsync(HttpMethod.Post, "/admin/keys", body, Json.KeyBody, Json.KeyBody);
    public Task<KeyBody> UpdateKeyAsync(string id, KeyBody body) => SendAsync(HttpMethod.Patch, $"/admin/keys/{Uri.EscapeDataString(id)}", body, Json.KeyBody, Json.KeyBody);
    public Task<KeyBody> RevokeKeyAsync(string id) => SendAsync<KeyBody, KeyBody>(HttpMethod.Post, $"/admin/keys/{Uri.EscapeDataString(id)}/revoke", null, null, Json.KeyBody);
    public async Task<List<KeyBody>> ListKeysAsync(string? team) =>
        (await GetAsync(team is null ? "/admin/keys" : $"/admin/keys?team={Uri.EscapeDataString(team)}", Json.AdminListKeyBody)).Data;

    public Task<BudgetBody> CreateBudgetAsync(BudgetBody body) => SendAsync(HttpMethod.Post, "/admin/budgets", body, Json.BudgetBody, Json.BudgetBody);
    public Task<BudgetBody> UpdateBudgetAsync(string id, BudgetBody body) => SendAsync(HttpMethod.Patch, $"/admin/budgets/{Uri.EscapeDataString(id)}", body, Json.BudgetBody, Json.BudgetBody);
    public async Task DeleteBudgetAsync(string id)
    {
        using var response = await Send(() => _http.DeleteAsync($"/admin/budgets/{Uri.EscapeDataString(id)}"));
        await EnsureAsync(response);
    }
    public async Task<List<BudgetBody>> ListBudgetsAsync() => (await GetAsync("/admin/budgets", Json.AdminListBudgetBody)).Data;

    public async Task<List<UsageRowBody>> UsageAsync(string query) => (await GetAsync("/admin/usage?" + query, Json.AdminListUsageRowBody)).Data;

    private async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type)
    {
        using var response = await Send(() => _http.GetAsync(path));
        await EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync(type))!;
    }

    private async Task<TOut> SendAsync<TIn, TOut>(HttpMethod method, string path, TIn? body, JsonTypeInfo<TIn>? inType, JsonTypeInfo<TOut> outType)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null && inType is not null)
            request.Content = JsonContent.Create(body, inType);
        using var response = await Send(() => _http.SendAsync(request));
        await EnsureAsync(response);
        return (await response.Content.ReadFromJsonAsync(outType))!;
    }

    private async Task<HttpResponseMessage> Send(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e)
        {
            throw new TokenFactoryException($"cannot reach the server at {_http.BaseAddress}: {e.Message}");
        }
    }

    /// <summary>The server's error message (OpenAI's shape) as the CLI's error line.</summary>
    private static async Task EnsureAsync(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode)
            return;
        string text = await response.Content.ReadAsStringAsync();
        string message = text;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("error", out var error) && error.TryGetProperty("message", out var m))
                message = m.GetString() ?? text;
        }
        catch (JsonException)
        {
        }
        throw new TokenFactoryException($"{(int)response.StatusCode}: {message}");
    }

    public void Dispose() => _http.Dispose();
}
