using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// The scriptable answer of <c>plan --json</c>: one object whose top-level fields are the best feasible option's (or the
/// only hardware's), so a check can read <c>tokens_per_second</c> directly, and every option under <c>options</c>.
/// </summary>
internal static class PlanJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Write(PlanResult result, TokenBudget? budget)
    {
        var root = JsonSerializer.SerializeToNode(result, Options)!.AsObject();
        // The headline: the cheapest feasible option per output token (or the only one asked for).
        var headline = result.Options.Count == 1 ? result.Options[0]
            : result.Options.Where(o => o.Feasible).MinBy(o => o.UsdPerMillionOutputTokens) ?? result.Options.FirstOrDefault();
        if (headline is not null)
        {
            var fields = JsonSerializer.SerializeToNode(headline, Options)!.AsObject();
            fields.Remove("frontier");
            foreach (var (key, value) in fields.ToList())
                root[key] = value?.DeepClone();
        }
        if (budget is not null)
            root["budget"] = new JsonObject { ["people"] = budget.People, ["salary_usd"] = budget.SalaryUsd, ["share_on_tokens"] = budget.ShareOnTokens, ["usd_per_year"] = budget.UsdPerYear };
        return root.ToJsonString(Options);
    }
}
