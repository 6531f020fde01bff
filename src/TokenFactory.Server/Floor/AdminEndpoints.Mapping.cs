using System.Globalization;
using Microsoft.Extensions.Primitives;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Floor;

/// <summary>Between the store's records and the admin API's bodies, and the checks on what clients send.</summary>
internal static partial class AdminEndpoints
{
    private static OpenAiException NotFound(string what, string id) =>
        new(404, $"There is no {what} '{id}'.", OpenAiErrorTypes.NotFound, code: $"{what}_not_found");

    /// <summary>The bodies are also the answers: fields only the server sets are refused in a request, not ignored.</summary>
    private static void ReadOnlyFields(TeamBody body) => RefuseSet(("created_at", body.CreatedAt));

    private static void ReadOnlyFields(KeyBody body) =>
        RefuseSet(("id", body.Id), ("created_at", body.CreatedAt), ("revoked_at", body.RevokedAt), ("status", body.Status), ("secret", body.Secret));

    private static void ReadOnlyFields(BudgetBody body) =>
        RefuseSet(("id", body.Id), ("window_start", body.WindowStart), ("spent", body.Spent), ("reserved", body.Reserved), ("state", body.State));

    private static void RefuseSet(params (string Name, object? Value)[] fields)
    {
        foreach (var (name, value) in fields)
        {
            if (value is not null)
                throw OpenAiException.Invalid($"'{name}' is set by the server and cannot be sent.", name, "read_only_field");
        }
    }

    /// <summary>0 clears a limit (unlimited); negatives are an error.</summary>
    private static int? Limit(int? value, string param) => value switch
    {
        null or 0 => null,
        < 0 => throw OpenAiException.Invalid($"'{param}' must be 0 (unlimited) or more.", param),
        _ => value,
    };

    private static double Hard(double? hard) =>
        hard is double h && h > 0 && double.IsFinite(h) ? h : throw OpenAiException.Invalid("'hard' must be a positive number.", "hard");

    private static void CheckSoft(Budget budget)
    {
        if (budget.Soft is double soft && (!(soft > 0) || soft > budget.Hard))
            throw OpenAiException.Invalid("'soft' must be positive and at most 'hard'.", "soft");
    }

    /// <summary>Longest key name and model name accepted (team ids are capped by their pattern).</summary>
    internal const int MaxNameLength = 256;

    /// <summary>
    /// A key's allowed models, each trimmed. A malformed entry is refused, never dropped: an empty list means every
    /// model, so dropping "a,b" (the ledger keeps the list comma-separated) or " " turned a restricted key into an
    /// unrestricted one.
    /// </summary>
    private static List<string> Models(List<string>? models)
    {
        if (models is null)
            return [];
        var list = new List<string>(models.Count);
        foreach (string? model in models) // a JSON null entry arrives as null despite the annotation
        {
            string name = model?.Trim() ?? "";
            if (name.Length == 0 || name.Contains(',') || name.Length > MaxNameLength)
                throw OpenAiException.Invalid($"Each entry of 'models' must be a model name of 1-{MaxNameLength} characters without commas"
                    + " (send [] or leave it out to allow every model).", "models");
            list.Add(name);
        }
        return list;
    }

    /// <summary>A key's name as sent (trimmed), or null when none was sent; names past the limit are refused.</summary>
    private static string? KeyName(string? name) =>
        string.IsNullOrWhiteSpace(name) ? null
        : name.Trim() is { Length: <= MaxNameLength } trimmed ? trimmed
        : throw OpenAiException.Invalid($"'name' must be at most {MaxNameLength} characters.", "name");

    /// <summary>A priority class as sent (null keeps or inherits); anything but the three classes is refused.</summary>
    private static string? Priority(string? value) =>
        value is null || PriorityClasses.IsKnown(value) ? value
        : throw OpenAiException.Invalid("'priority' must be interactive, standard or batch.", "priority");

    private static DateTimeOffset? Time(StringValues value, string param)
    {
        string? text = value.FirstOrDefault();
        if (string.IsNullOrEmpty(text))
            return null;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t : throw OpenAiException.Invalid($"'{param}' must be a date or time such as 2026-11-01 or 2026-11-01T12:00:00Z.", param);
    }

    private static TeamBody ToBody(Team t) => new()
    {
        Id = t.Id, CreatedAt = t.CreatedAt, Rpm = t.Limits.RequestsPerMinute, Tpm = t.Limits.TokensPerMinute, Priority = t.Priority,
    };

    private static KeyBody ToBody(ApiKey k, DateTimeOffset now) => new()
    {
        Id = k.Id, Team = k.TeamId, Name = k.Name, Models = [.. k.AllowedModels], CreatedAt = k.CreatedAt, ExpiresAt = k.ExpiresAt,
        RevokedAt = k.RevokedAt, Rpm = k.Limits.RequestsPerMinute, Tpm = k.Limits.TokensPerMinute, Status = k.Status(now), Priority = k.Priority,
    };

    private static BudgetBody ToBody(BudgetStatus s) => new()
    {
        Id = s.Budget.Id, Scope = BudgetText.Name(s.Budget.Scope), ScopeId = s.Budget.ScopeId, Period = BudgetText.Name(s.Budget.Period),
        Unit = BudgetText.Name(s.Budget.Unit), Hard = s.Budget.Hard, Soft = s.Budget.Soft, WindowStart = s.WindowStart,
        Spent = s.Spent, Reserved = s.Reserved, State = s.State,
    };

    private static UsageRowBody ToBody(UsageRow r) => new()
    {
        Group = r.Group, Requests = r.Requests, Refused = r.Refused, PromptTokens = r.PromptTokens, CachedPromptTokens = r.CachedPromptTokens,
        CompletionTokens = r.CompletionTokens, EnergyJoules = r.EnergyJoules, EnergyEstimated = r.EnergyEstimated, CostUsd = r.CostUsd, InputCostUsd = r.InputCostUsd,
        OutputCostUsd = r.OutputCostUsd, JoulesPerToken = r.JoulesPerToken, UsdPerMillionInputTokens = r.UsdPerMillionInputTokens,
        UsdPerMillionOutputTokens = r.UsdPerMillionOutputTokens,
    };

    private static RefusalBody ToBody(RefusalCount r) => new()
    {
        Minute = r.Minute, Key = r.KeyId, Team = r.TeamId, Model = r.Model, Endpoint = r.Endpoint, Status = r.Status, Reason = r.Reason, Count = r.Count,
    };

    private static LedgerEntryBody ToBody(UsageRecord r) => new()
    {
        RequestId = r.RequestId, Time = r.Time, Key = r.KeyId, Team = r.TeamId, Model = r.Model, Endpoint = r.Endpoint, Status = r.Status,
        PromptTokens = r.PromptTokens, CachedPromptTokens = r.CachedPromptTokens, CompletionTokens = r.CompletionTokens,
        QueueSeconds = r.QueueSeconds, TimeToFirstTokenSeconds = r.TimeToFirstTokenSeconds, DurationSeconds = r.DurationSeconds,
        EnergyJoules = r.EnergyJoules, EnergyEstimated = r.EnergyEstimated, CostUsd = r.CostUsd, Replica = r.Replica,
    };
}
