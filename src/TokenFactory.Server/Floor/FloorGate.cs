using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.RateLimiting;

namespace TokenFactory.Server.Floor;

/// <summary>Admission for the generation endpoints, once the prompt is tokenized and the worst case is known.</summary>
internal static class FloorGate
{
    public const string BudgetWarningHeader = "x-tokenfactory-budget-warning";

    /// <param name="maxCompletionTokens">All choices' max_tokens together: the most this request can generate.</param>
    public static async Task<MeteredRequest> AdmitAsync(HttpContext context, string model, long promptTokens, long maxCompletionTokens)
    {
        var metered = MeteredRequest.Of(context) ?? throw new InvalidOperationException("FloorMiddleware did not run for this request.");
        var floor = context.RequestServices.GetRequiredService<FloorService>();
        metered.Model = model;
        Admission admission;
        try
        {
            admission = await floor.AdmitAsync(metered.Caller, model, metered.Endpoint, promptTokens, maxCompletionTokens, context.RequestAborted);
        }
        catch (FloorDeniedException denied)
        {
            WriteRateLimitHeaders(context.Response, denied.RateLimit);
            throw;
        }
        metered.Admission = admission;
        WriteRateLimitHeaders(context.Response, admission.RateLimit);
        if (admission.SoftReached.Count > 0)
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(FloorGate));
            var parts = new List<string>();
            foreach (var s in admission.SoftReached)
            {
                parts.Add($"{s.Budget.Id}: {BudgetText.Amount(s.Budget.Unit, s.Spent)} of {BudgetText.Amount(s.Budget.Unit, s.Budget.Hard)} ({s.Budget.Describe()})");
                FloorLog.SoftLimit(logger, s.Budget.Describe(), BudgetText.Amount(s.Budget.Unit, s.Spent));
            }
            context.Response.Headers[BudgetWarningHeader] = string.Join("; ", parts);
        }
        return metered;
    }

    /// <summary>OpenAI's names: x-ratelimit-{limit,remaining,reset}-{requests,tokens}.</summary>
    public static void WriteRateLimitHeaders(HttpResponse response, RateLimitStatus? status)
    {
        if (status is null || response.HasStarted)
            return;
        var h = response.Headers;
        if (status.RequestLimit is long requests)
        {
            h["x-ratelimit-limit-requests"] = requests.ToString(CultureInfo.InvariantCulture);
            h["x-ratelimit-remaining-requests"] = status.RequestsRemaining.ToString(CultureInfo.InvariantCulture);
            h["x-ratelimit-reset-requests"] = RateLimitStatus.FormatReset(status.RequestsReset);
        }
        if (status.TokenLimit is long tokens)
        {
            h["x-ratelimit-limit-tokens"] = tokens.ToString(CultureInfo.InvariantCulture);
            h["x-ratelimit-remaining-tokens"] = status.TokensRemaining.ToString(CultureInfo.InvariantCulture);
            h["x-ratelimit-reset-tokens"] = RateLimitStatus.FormatReset(status.TokensReset);
        }
    }
}
