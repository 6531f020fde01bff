using System.Globalization;

namespace TokenFactory.Planning;

/// <summary>
/// <c>NAME:SHARE[:ttft-p99=MS][:tpot-p99=MS][:ttft-p50=MS][:tpot-p50=MS]</c>: one priority class of a workload, as
/// <c>plan --class</c> and <c>GET /v1/factory/plan?class=…</c> take it. Errors name <paramref name="label"/> (the option or parameter).
/// </summary>
public static class PlanClassSyntax
{
    /// <summary>Each of <paramref name="texts"/> parsed; a name given twice is an error.</summary>
    public static List<PlanClass> ParseAll(IEnumerable<string> texts, string label = "--class")
    {
        var classes = texts.Select(t => Parse(t, label)).ToList();
        if (classes.Select(c => c.Name).Distinct().Count() != classes.Count)
            throw new TokenFactoryException($"{label}: each class needs its own name.");
        return classes;
    }

    public static PlanClass Parse(string text, string label = "--class")
    {
        string[] parts = text.Split(':');
        if (parts.Length < 2 || parts[0].Length == 0)
            throw new TokenFactoryException($"{label} '{text}': expected NAME:SHARE[:ttft-p99=MS][:tpot-p99=MS][:ttft-p50=MS][:tpot-p50=MS].");
        if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double share) || !(share > 0) || double.IsInfinity(share))
            throw new TokenFactoryException($"{label} '{text}': the share '{parts[1]}' must be a positive number (shares are relative).");
        var result = new PlanClass(parts[0], share);
        var seen = new HashSet<string>();
        foreach (string target in parts.Skip(2))
        {
            string[] kv = target.Split('=', 2);
            if (!seen.Add(kv[0]))
                throw new TokenFactoryException($"{label} '{text}': '{kv[0]}' is given twice.");
            if (kv.Length != 2 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) || !(ms > 0))
                throw new TokenFactoryException($"{label} '{text}': '{target}' must be ttft-p99, tpot-p99, ttft-p50 or tpot-p50 = a positive number of ms.");
            result = kv[0] switch
            {
                "ttft-p99" => result with { TtftP99Ms = ms },
                "tpot-p99" => result with { TpotP99Ms = ms },
                "ttft-p50" => result with { TtftP50Ms = ms },
                "tpot-p50" => result with { TpotP50Ms = ms },
                _ => throw new TokenFactoryException($"{label} '{text}': unknown target '{kv[0]}' (ttft-p99, tpot-p99, ttft-p50, tpot-p50)."),
            };
        }
        return result;
    }
}
