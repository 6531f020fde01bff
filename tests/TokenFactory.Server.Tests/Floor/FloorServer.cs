using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>A real server with API keys required, an admin key, and a ledger in SQLite or PostgreSQL.</summary>
public sealed class FloorServer : IAsyncDisposable
{
    public const string AdminKey = "test-admin-key-7f3a9c";

    private FloorServer(ServerInstance server)
    {
        Server = server;
        Admin = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
    }

    public ServerInstance Server { get; }
    public HttpClient Admin { get; }

    /// <param name="postgres">A connection string: the ledger lives there instead of in a SQLite file.</param>
    public static async Task<FloorServer> StartAsync(string? postgres = null, Dictionary<string, string?>? settings = null, IEngineFactory? engine = null,
        Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["TokenFactory:Floor:Auth"] = "keys",
            ["TokenFactory:Floor:AdminKey"] = AdminKey,
            ["TokenFactory:Floor:Postgres"] = postgres,
        };
        foreach (var (k, v) in settings ?? [])
            all[k] = v;
        return new FloorServer(await ServerInstance.StartAsync(all, engine, services: services));
    }

    /// <summary>A fresh team name, so tests sharing one PostgreSQL database never see each other's spend.</summary>
    public static string NewTeamId(string prefix = "team") => $"{prefix}-{Guid.NewGuid():N}"[..24];

    public async Task<TeamBody> CreateTeamAsync(string id, int? rpm = null, int? tpm = null) =>
        await PostAsync("/admin/teams", new TeamBody { Id = id, Rpm = rpm, Tpm = tpm }, AdminJsonContext.Relaxed.TeamBody);

    public async Task<KeyBody> CreateKeyAsync(string team, string? name = null, List<string>? models = null, int? rpm = null, int? tpm = null, DateTimeOffset? expires = null) =>
        await PostAsync("/admin/keys", new KeyBody { Team = team, Name = name, Models = models, Rpm = rpm, Tpm = tpm, ExpiresAt = expires }, AdminJsonContext.Relaxed.KeyBody);

    /// <summary>A new team with one key; returns the key (its <c>Secret</c> set).</summary>
    public async Task<KeyBody> NewKeyAsync(List<string>? models = null, int? rpm = null, int? tpm = null) =>
        await CreateKeyAsync((await CreateTeamAsync(NewTeamId())).Id!, "test", models, rpm, tpm);

    public async Task<BudgetBody> CreateBudgetAsync(string scope, string scopeId, string unit, double hard, double? soft = null, string period = "month") =>
        await PostAsync("/admin/budgets", new BudgetBody { Scope = scope, ScopeId = scopeId, Unit = unit, Hard = hard, Soft = soft, Period = period }, AdminJsonContext.Relaxed.BudgetBody);

    public async Task<List<BudgetBody>> BudgetsAsync() =>
        (await Admin.GetFromJsonAsync("/admin/budgets", AdminJsonContext.Relaxed.AdminListBudgetBody))!.Data;

    public async Task<List<LedgerEntryBody>> LedgerAsync(string? team = null) =>
        [.. (await Admin.GetFromJsonAsync("/admin/ledger?limit=100000", AdminJsonContext.Relaxed.AdminListLedgerEntryBody))!.Data.Where(e => team is null || e.Team == team)];

    /// <summary>Refusal counts of one team (this server's pending counts are written first).</summary>
    public async Task<List<RefusalBody>> RefusalsAsync(string? team = null) =>
        [.. (await Admin.GetFromJsonAsync("/admin/refusals?limit=100000", AdminJsonContext.Relaxed.AdminListRefusalBody))!.Data.Where(e => team is null || e.Team == team)];

    /// <summary>The official SDK with its automatic retries off, so every 429 reaches the test.</summary>
    public ChatClient Chat(string apiKey) =>
        new(ServerInstance.ModelName, new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = Server.OpenAiEndpoint, RetryPolicy = new ClientRetryPolicy(0) });

    private async Task<T> PostAsync<T>(string path, T body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        using var response = await Admin.PostAsJsonAsync(path, body, type);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return System.Text.Json.JsonSerializer.Deserialize(text, type)!;
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Server.DisposeAsync();
    }
}
