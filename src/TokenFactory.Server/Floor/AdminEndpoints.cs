using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using TokenFactory.Floor;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Floor;

/// <summary>
/// /admin (admin key only, checked by <see cref="AdminKeyFilter"/>): teams, keys, budgets, usage reports and
/// the raw ledger. Errors come back in the same OpenAI shape as the rest of the API.
/// </summary>
internal static partial class AdminEndpoints
{
    private static AdminJsonContext Json => AdminJsonContext.Relaxed;

    /// <summary>Maps the admin routes onto <paramref name="admin"/> (the /admin group, behind <see cref="AdminKeyFilter"/>).</summary>
    public static RouteGroupBuilder MapAdminEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPost("/teams", CreateTeamAsync);
        admin.MapGet("/teams", ListTeamsAsync);
        admin.MapPatch("/teams/{id}", UpdateTeamAsync);
        admin.MapPost("/keys", CreateKeyAsync);
        admin.MapGet("/keys", ListKeysAsync);
        admin.MapGet("/keys/{id}", GetKeyAsync);
        admin.MapPatch("/keys/{id}", UpdateKeyAsync);
        admin.MapPost("/keys/{id}/revoke", RevokeKeyAsync);
        admin.MapDelete("/keys/{id}", RevokeKeyAsync);
        admin.MapPost("/budgets", CreateBudgetAsync);
        admin.MapGet("/budgets", ListBudgetsAsync);
        admin.MapPatch("/budgets/{id}", UpdateBudgetAsync);
        admin.MapDelete("/budgets/{id}", DeleteBudgetAsync);
        admin.MapGet("/usage", UsageAsync);
        admin.MapGet("/ledger", LedgerAsync);
        admin.MapGet("/refusals", RefusalsAsync);
        return admin;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex TeamIdPattern();

    private static async Task<IResult> CreateTeamAsync(HttpContext context, FloorService floor, TimeProvider time)
    {
        var body = await RequestBody.ReadAsync(context, Json.TeamBody);
        ReadOnlyFields(body);
        if (body.Id is not { } id || !TeamIdPattern().IsMatch(id))
            throw OpenAiException.Invalid("'id' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.", "id");
        var team = new Team { Id = id, CreatedAt = time.GetUtcNow(), Limits = new RateLimits(Limit(body.Rpm, "rpm"), Limit(body.Tpm, "tpm")), Priority = Priority(body.Priority) };
        // The store says whether the id was free: a look first would let two concurrent creations both pass it.
        if (!await floor.Store.CreateTeamAsync(team))
            throw new OpenAiException(409, $"The team '{id}' already exists.", OpenAiErrorTypes.InvalidRequest, "id", "team_exists");
        return Results.Json(ToBody(team), Json.TeamBody, statusCode: 201);
    }

    private static async Task<IResult> ListTeamsAsync(FloorService floor) =>
        Results.Json(new AdminList<TeamBody> { Data = [.. (await floor.Store.ListTeamsAsync()).Select(ToBody)] }, Json.AdminListTeamBody);

    private static async Task<IResult> UpdateTeamAsync(HttpContext context, string id, FloorService floor)
    {
        var body = await RequestBody.ReadAsync(context, Json.TeamBody);
        ReadOnlyFields(body);
        var team = await floor.Store.GetTeamAsync(id) ?? throw NotFound("team", id);
        var limits = new RateLimits(body.Rpm is null ? team.Limits.RequestsPerMinute : Limit(body.Rpm, "rpm"),
            body.Tpm is null ? team.Limits.TokensPerMinute : Limit(body.Tpm, "tpm"));
        team = team with { Limits = limits, Priority = body.Priority is null ? team.Priority : Priority(body.Priority) };
        await floor.Store.UpdateTeamAsync(team);
        return Results.Json(ToBody(team), Json.TeamBody);
    }

    private static async Task<IResult> CreateKeyAsync(HttpContext context, FloorService floor, TimeProvider time)
    {
        var body = await RequestBody.ReadAsync(context, Json.KeyBody);
        ReadOnlyFields(body);
        if (string.IsNullOrWhiteSpace(body.Team))
            throw OpenAiException.Invalid("'team' is required: every key belongs to a team (create one with POST /admin/teams).", "team");
        if (await floor.Store.GetTeamAsync(body.Team) is null)
            throw OpenAiException.Invalid($"The team '{body.Team}' does not exist.", "team", "team_not_found");
        var now = time.GetUtcNow();
        if (body.ExpiresAt <= now)
            throw OpenAiException.Invalid("'expires_at' is in the past.", "expires_at");
        string keyId = ApiKeySecrets.NewKeyId();
        var (secret, salt, hash) = ApiKeySecrets.Create(keyId);
        var key = new ApiKey
        {
            Id = keyId,
            TeamId = body.Team,
            Name = KeyName(body.Name) ?? keyId,
            Salt = salt,
            Hash = hash,
            AllowedModels = Models(body.Models),
            CreatedAt = now,
            ExpiresAt = body.ExpiresAt,
            Limits = new RateLimits(Limit(body.Rpm, "rpm"), Limit(body.Tpm, "tpm")),
            Priority = Priority(body.Priority),
        };
        await floor.Store.CreateKeyAsync(key);
        var answer = ToBody(key, now);
        answer.Secret = secret;
        return Results.Json(answer, Json.KeyBody, statusCode: 201);
    }

    private static async Task<IResult> ListKeysAsync(string? team, FloorService floor, TimeProvider time)
    {
        var now = time.GetUtcNow();
        return Results.Json(new AdminList<KeyBody> { Data = [.. (await floor.Store.ListKeysAsync(team)).Select(k => ToBody(k, now))] }, Json.AdminListKeyBody);
    }

    private static async Task<IResult> GetKeyAsync(string id, FloorService floor, TimeProvider time) =>
        Results.Json(ToBody(await floor.Store.GetKeyAsync(id) ?? throw NotFound("key", id), time.GetUtcNow()), Json.KeyBody);

    private static async Task<IResult> UpdateKeyAsync(HttpContext context, string id, FloorService floor, TimeProvider time)
    {
        var body = await RequestBody.ReadAsync(context, Json.KeyBody);
        ReadOnlyFields(body);
        var key = await floor.Store.GetKeyAsync(id) ?? throw NotFound("key", id);
        if (body.Team is not null && body.Team != key.TeamId)
            throw OpenAiException.Invalid("A key cannot move to another team; create a new key there.", "team");
        key = key with
        {
            Name = KeyName(body.Name) ?? key.Name,
            AllowedModels = body.Models is null ? key.AllowedModels : Models(body.Models),
            ExpiresAt = body.ExpiresAt ?? key.ExpiresAt,
            Limits = new RateLimits(body.Rpm is null ? key.Limits.RequestsPerMinute : Limit(body.Rpm, "rpm"),
                body.Tpm is null ? key.Limits.TokensPerMinute : Limit(body.Tpm, "tpm")),
            Priority = body.Priority is null ? key.Priority : Priority(body.Priority),
        };
        await floor.Store.UpdateKeyAsync(key);
        // As stored: a revocation that landed between the read and the write stands (and is shown).
        key = await floor.Store.GetKeyAsync(id) ?? key;
        return Results.Json(ToBody(key, time.GetUtcNow()), Json.KeyBody);
    }

    private static async Task<IResult> RevokeKeyAsync(string id, FloorService floor, TimeProvider time)
    {
        var key = await floor.Store.GetKeyAsync(id) ?? throw NotFound("key", id);
        var now = time.GetUtcNow();
        if (key.RevokedAt is null)
        {
            key = key with { RevokedAt = now };
            await floor.Store.UpdateKeyAsync(key);
        }
        return Results.Json(ToBody(key, now), Json.KeyBody);
    }

    private static async Task<IResult> CreateBudgetAsync(HttpContext context, FloorService floor, TimeProvider time)
    {
        var body = await RequestBody.ReadAsync(context, Json.BudgetBody);
        ReadOnlyFields(body);
        var scope = BudgetText.ParseScope(body.Scope ?? throw OpenAiException.Invalid("'scope' is required: key or team.", "scope"));
        if (string.IsNullOrWhiteSpace(body.ScopeId))
            throw OpenAiException.Invalid("'scope_id' is required: the key id or team id.", "scope_id");
        bool exists = scope == BudgetScope.Key ? await floor.Store.GetKeyAsync(body.ScopeId) is not null : await floor.Store.GetTeamAsync(body.ScopeId) is not null;
        if (!exists)
            throw OpenAiException.Invalid($"There is no {BudgetText.Name(scope)} '{body.ScopeId}'.", "scope_id");
        var budget = new Budget
        {
            Id = "bud_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)),
            Scope = scope,
            ScopeId = body.ScopeId,
            Period = BudgetText.ParsePeriod(body.Period ?? "month"),
            Unit = BudgetText.ParseUnit(body.Unit ?? throw OpenAiException.Invalid("'unit' is required: tokens or usd.", "unit")),
            Hard = Hard(body.Hard),
            Soft = body.Soft,
        };
        CheckSoft(budget);
        await floor.Store.CreateBudgetAsync(budget);
        var status = (await floor.Store.BudgetStatusAsync(time.GetUtcNow())).First(s => s.Budget.Id == budget.Id);
        return Results.Json(ToBody(status), Json.BudgetBody, statusCode: 201);
    }

    private static async Task<IResult> ListBudgetsAsync(FloorService floor, TimeProvider time) =>
        Results.Json(new AdminList<BudgetBody> { Data = [.. (await floor.Store.BudgetStatusAsync(time.GetUtcNow())).Select(ToBody)] }, Json.AdminListBudgetBody);

    private static async Task<IResult> UpdateBudgetAsync(HttpContext context, string id, FloorService floor, TimeProvider time)
    {
        var body = await RequestBody.ReadAsync(context, Json.BudgetBody);
        ReadOnlyFields(body);
        // Only the amounts change; what the budget counts, for whom and over what period is what it is (a USD budget
        // sent {"unit": "tokens", "hard": 50000} became $50,000).
        foreach (var (name, value) in new[] { ("scope", body.Scope), ("scope_id", body.ScopeId), ("period", body.Period), ("unit", body.Unit) })
        {
            if (value is not null)
                throw OpenAiException.Invalid($"'{name}' cannot change on a budget (only 'hard' and 'soft' can); delete it and create another.", name, "immutable_field");
        }
        var budget = await floor.Store.GetBudgetAsync(id) ?? throw NotFound("budget", id);
        budget = budget with { Hard = body.Hard is null ? budget.Hard : Hard(body.Hard), Soft = body.Soft ?? budget.Soft };
        CheckSoft(budget);
        await floor.Store.UpdateBudgetAsync(budget);
        var status = (await floor.Store.BudgetStatusAsync(time.GetUtcNow())).First(s => s.Budget.Id == id);
        return Results.Json(ToBody(status), Json.BudgetBody);
    }

    private static async Task<IResult> DeleteBudgetAsync(string id, FloorService floor) =>
        await floor.Store.DeleteBudgetAsync(id) ? Results.NoContent() : throw NotFound("budget", id);

    private static async Task<IResult> UsageAsync(HttpContext context, FloorService floor)
    {
        var q = context.Request.Query;
        var grouping = Enum.TryParse<UsageGrouping>(q["group_by"].FirstOrDefault() ?? "model", true, out var g) && Enum.IsDefined(g)
            ? g : throw OpenAiException.Invalid("'group_by' must be key, team, model, day or replica.", "group_by");
        var query = new UsageQuery(grouping, Time(q["from"], "from"), Time(q["to"], "to"), q["team"].FirstOrDefault(), q["key"].FirstOrDefault());
        await floor.Refusals.FlushAsync(context.RequestAborted);
        var rows = await floor.Store.QueryUsageAsync(query, context.RequestAborted);
        string format = q["format"].FirstOrDefault() ?? "json";
        if (format.Equals("csv", StringComparison.OrdinalIgnoreCase))
            return Results.Text(UsageCsv.Write(rows), "text/csv");
        if (!format.Equals("json", StringComparison.OrdinalIgnoreCase))
            throw OpenAiException.Invalid("'format' must be json or csv.", "format");
        return Results.Json(new AdminList<UsageRowBody> { Data = [.. rows.Select(ToBody)] }, Json.AdminListUsageRowBody);
    }

    private static async Task<IResult> LedgerAsync(HttpContext context, FloorService floor)
    {
        var q = context.Request.Query;
        int limit = int.TryParse(q["limit"].FirstOrDefault(), out int l) ? l : 1000;
        var records = await floor.Store.ListUsageAsync(Time(q["from"], "from"), limit, context.RequestAborted);
        return Results.Json(new AdminList<LedgerEntryBody> { Data = [.. records.Select(ToBody)] }, Json.AdminListLedgerEntryBody);
    }

    /// <summary>Refusal counts, oldest minute first; pending counts are written first so the answer is current.</summary>
    private static async Task<IResult> RefusalsAsync(HttpContext context, FloorService floor)
    {
        var q = context.Request.Query;
        int limit = int.TryParse(q["limit"].FirstOrDefault(), out int l) ? l : 1000;
        await floor.Refusals.FlushAsync(context.RequestAborted);
        var counts = await floor.Store.ListRefusalsAsync(Time(q["from"], "from"), limit, context.RequestAborted);
        return Results.Json(new AdminList<RefusalBody> { Data = [.. counts.Select(ToBody)] }, Json.AdminListRefusalBody);
    }
}
