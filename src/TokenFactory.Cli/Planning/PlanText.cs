using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>The human answer of <c>plan</c>: one line per hardware option, the frontier of the first.</summary>
internal static class PlanText
{
    public static void Write(TextWriter o, PlanResult result)
    {
        o.WriteLine($"{result.Model} at {result.Precision}, {result.InputTokens} input / {result.OutputTokens} output tokens, {result.Scenario} scenario" +
            (result.OutputTokensPerDay is double d ? $", {d:G3} output tokens/day" : ""));
        o.WriteLine($"{"hardware",-18} {"TP",3} {"EP",3} {"repl.",6} {"devices",8} {"racks",6} {"MW",8} {"tok/s",10} {"tok/s/dev",10} {"tok/s/user",10} {"TTFT p99",9} {"TPOT p99",9} {"$/Mtok out",10} {"J/token",8}");
        foreach (var x in result.Options)
        {
            if (x.TensorParallel == 0)
            {
                o.WriteLine($"{x.Hardware,-18} not feasible: {x.Why}");
                continue;
            }
            o.WriteLine($"{x.Hardware,-18} {x.TensorParallel,3} {x.ExpertParallel,3} {x.Replicas,6} {x.Devices,8} {x.Racks,6:0.#} {x.Megawatts,8:0.###} {x.TokensPerSecond,10:0} {x.TokensPerSecondPerDevice,10:0} " +
                $"{x.TokensPerSecondPerUser,10:0.#} {x.TtftP99Ms,7:0} ms {x.TpotP99Ms,6:0.0} ms {x.UsdPerMillionOutputTokens,10:0.###} {x.JoulesPerToken,8:0.###}" +
                (x.Feasible ? "" : $"  ({x.Why})"));
            foreach (var c in x.Classes)
            {
                o.WriteLine($"{"",-18}   class {c.Name} ({c.Share:0.##}): {c.OutputTokensPerSecond:0} tok/s, TTFT p50/p99 {c.TtftP50Ms:0}/{c.TtftP99Ms:0} ms, " +
                    $"TPOT p50/p99 {c.TpotP50Ms:0.0}/{c.TpotP99Ms:0.0} ms, {(c.Met ? "meets its targets" : "misses its targets")}");
            }
        }
    }
}
