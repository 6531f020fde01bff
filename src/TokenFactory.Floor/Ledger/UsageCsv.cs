using System.Globalization;
using System.Text;

namespace TokenFactory.Floor.Ledger;

/// <summary>A usage report as CSV (RFC 4180 quoting), the same from the admin API and the CLI.</summary>
public static class UsageCsv
{
    public const string Header = "group,requests,prompt_tokens,cached_prompt_tokens,completion_tokens,energy_joules,energy_estimated,joules_per_token,cost_usd,usd_per_million_input_tokens,usd_per_million_output_tokens,refused";

    public static string Write(IEnumerable<UsageRow> rows)
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(Quote(r.Group)).Append(',')
              .Append(Invariant(r.Requests)).Append(',').Append(Invariant(r.PromptTokens)).Append(',').Append(Invariant(r.CachedPromptTokens)).Append(',')
              .Append(Invariant(r.CompletionTokens)).Append(',').Append(Invariant(r.EnergyJoules)).Append(',').Append(r.EnergyEstimated ? "true" : "false").Append(',').Append(Invariant(r.JoulesPerToken)).Append(',')
              .Append(Invariant(r.CostUsd)).Append(',').Append(Invariant(r.UsdPerMillionInputTokens)).Append(',').Append(Invariant(r.UsdPerMillionOutputTokens)).Append(',').Append(Invariant(r.Refused)).Append('\n');
        }
        return sb.ToString();
    }

    private static string Invariant(double v) => v.ToString("G10", CultureInfo.InvariantCulture);
    private static string Invariant(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string s) => s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
