using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Planning;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// <c>GET /v1/factory/plan</c>: the planner for the command center (the same as <c>tokenfactory plan</c>): JSON, or with
/// <c>format=svg</c> the throughput-vs-interactivity frontier. Query: <c>model</c> (catalog name), <c>hardware</c>
/// (comma-separated ids; default all), <c>precision</c>, <c>isl</c>, <c>osl</c>, <c>scenario</c>, <c>ttft_p99_ms</c>,
/// <c>tpot_p99_ms</c>, <c>ttft_p50_ms</c>, <c>tpot_p50_ms</c>, <c>tokens_per_day</c>, <c>devices</c>, and <c>class</c> (repeatable,
/// highest first: <c>NAME:SHARE[:ttft-p99=MS]…</c> as <c>plan --class</c> takes it, instead of the request-wide targets).
/// Unknown parameters are a 400.
/// </summary>
internal static class PlanEndpoint
{
    private static readonly HashSet<string> Known = ["model", "hardware", "precision", "isl", "osl", "scenario", "ttft_p99_ms", "tpot_p99_ms", "ttft_p50_ms", "tpot_p50_ms", "tokens_per_day", "devices", "class", "format"];

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static IResult Get(HttpContext context)
    {
        var q = context.Request.Query;
        foreach (var key in q.Keys)
        {
            if (!Known.Contains(key))
                throw OpenAiException.Invalid($"Unknown parameter '{key}'. Known: {string.Join(", ", Known)}.", key, "unknown_parameter");
        }
        string model = q["model"].FirstOrDefault() ?? throw OpenAiException.Invalid("'model' is required: a catalog model name.", "model");
        if (model.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw OpenAiException.Invalid("'model' must be a catalog name here (files are for the command line).", "model");
        try
        {
            var ids = (q["hardware"].FirstOrDefault() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            List<PlanClass> classes;
            try
            {
                classes = PlanClassSyntax.ParseAll(q["class"].OfType<string>(), "class");
            }
            catch (TokenFactoryException e)
            {
                throw OpenAiException.Invalid(e.Message, "class");
            }
            string format = q["format"].FirstOrDefault() ?? "json";
            if (format is not ("json" or "svg"))
                throw OpenAiException.Invalid($"'format' must be json or svg, not '{format}'.", "format");
            if (q.ContainsKey("devices") && q.ContainsKey("tokens_per_day"))
                throw OpenAiException.Invalid("'devices' reports what that many devices give; 'tokens_per_day' sizes the devices for a demand: choose one.", "devices");
            if (classes.Count > 0 && new[] { "ttft_p99_ms", "tpot_p99_ms", "ttft_p50_ms", "tpot_p50_ms" }.FirstOrDefault(q.ContainsKey) is { } both)
                throw OpenAiException.Invalid($"'{both}' and 'class' cannot be used together: each class has its own targets.", both);
            ModelProfile profile;
            try
            {
                profile = Catalogs.FindCatalogModel(model); // a name is never looked up as a file on the server
            }
            catch (TokenFactoryException e)
            {
                throw OpenAiException.Invalid(e.Message, "model");
            }
            var request = new PlanRequest
            {
                Model = profile,
                Cancellation = context.RequestAborted,
                Hardware = ids.Length > 0 ? [.. ids.Select(id => Catalogs.FindHardware(id))] : [.. Catalogs.Hardware().Where(h => !h.Announced)],
                Precision = Precisions.Parse(q["precision"].FirstOrDefault() ?? "BF16"), // the command line's default too
                InputTokens = Int("isl", 1024, 1, 1_000_000),
                // The simulation steps through every output token of its requests, on a request thread: a bound keeps one
                // viewer's request from holding it for minutes (the command line takes any length).
                OutputTokens = Int("osl", 256, 1, 32_768),
                Scenario = q["scenario"].FirstOrDefault() is { } s ? (s is "server" or "offline" ? s : throw OpenAiException.Invalid("'scenario' must be server or offline.", "scenario")) : "server",
                TtftP99Ms = Double("ttft_p99_ms"),
                TpotP99Ms = Double("tpot_p99_ms"),
                TtftP50Ms = Double("ttft_p50_ms"),
                TpotP50Ms = Double("tpot_p50_ms"),
                OutputTokensPerDay = Double("tokens_per_day"),
                Devices = q["devices"].FirstOrDefault() is null ? null : Int("devices", 1, 1, 1_000_000),
                Classes = classes,
            };
            var gate = context.RequestServices.GetRequiredService<PlanGate>().Slot;
            if (!gate.Wait(0))
                throw new OpenAiException(429, "Another plan is being computed (one at a time: each takes a core); retry in a few seconds.", OpenAiErrorTypes.Unavailable, code: "planner_busy") { RetryAfterSeconds = 5 };
            PlanResult result;
            try
            {
                result = Planner.Plan(request);
            }
            finally
            {
                gate.Release();
            }
            if (format == "svg")
                return Results.Text(FrontierSvg.Render($"{result.Model} {result.Precision}, {result.InputTokens}/{result.OutputTokens} tokens",
                    [.. result.Options.Where(o => o.Frontier.Count > 0).Select(o => (o.Hardware, o.Frontier))]), "image/svg+xml");
            return Results.Text(JsonSerializer.Serialize(result, Json), "application/json");
        }
        catch (TokenFactoryException e)
        {
            throw OpenAiException.Invalid(e.Message, null);
        }

        int Int(string name, int fallback, int min, int max)
        {
            string? text = q[name].FirstOrDefault();
            if (text is null)
                return fallback;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max ? v
                : throw OpenAiException.Invalid($"'{name}' must be an integer from {min} to {max}.", name);
        }

        double? Double(string name)
        {
            string? text = q[name].FirstOrDefault();
            if (text is null)
                return null;
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v) ? v
                : throw OpenAiException.Invalid($"'{name}' must be a positive number.", name);
        }
    }
}

/// <summary>
/// One plan at a time per server: a plan simulates thousands of requests token by token on the request's thread (many
/// classes, or long outputs, take minutes of a core), so viewers cannot take every core with plans in parallel.
/// </summary>
internal sealed class PlanGate : IDisposable
{
    public SemaphoreSlim Slot { get; } = new(1, 1);

    public void Dispose() => Slot.Dispose();
}
