using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.RateLimiting;
using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Server.Api;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Floor;

/// <summary>
/// The factory floor in front of every API endpoint (/v1 and llama.cpp's /tokenize, /detokenize,
/// /apply-template): it authenticates the caller (401 in OpenAI's shape) and, for the generation endpoints,
/// admits the request the endpoint planned (model allowed, rate limits, budgets reserved), answers it
/// metered so it is settled exactly once, and records every refusal (bad input, 429, 403) in the ledger. A request of a
/// fleet's router (<see cref="FleetRequest"/>) is the router's to admit and record: it runs here unadmitted and is only
/// counted in the metrics. Generations are counted in flight for draining, and refused once it began.
/// </summary>
internal sealed class FloorFilter(FloorService floor, IGenerationHost host, ServerMetrics metrics, ServerActivities activities, TimeProvider time,
    IOptions<ServerOptions> options, ILogger<FloorFilter> logger) : IEndpointFilter
{
    public const string BudgetWarningHeader = "x-tokenfactory-budget-warning";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var fleet = FleetRequest.Of(context);
        var caller = fleet is not null ? Caller.Internal : await floor.AuthenticateAsync(context.Request.Headers.Authorization, context.RequestAborted);
        context.Features.Set(new CallerFeature(caller));
        if (context.GetEndpoint()?.Metadata.GetMetadata<GenerationEndpoint>() is not { } generation)
            return await next(invocation);

        string? model = null;
        try
        {
            // In flight until its response has ended, whatever way it ends: draining waits for it.
            context.Response.RegisterForDispose(host.EnterGeneration(options.Value.RetryAfterSeconds));
            var result = await next(invocation);
            if (result is not IMeteredWork work)
                return result;
            model = work.Model;
            var admission = caller.IsInternal ? null : await AdmitAsync(context, caller, work, generation.Name);
            return work.Admitted(new MeteredRequest(admission, work.Started, time, activities), caller,
                fleet?.Tenant ?? TenantOf(context, caller, work), fleet?.Priority ?? PriorityClass.Standard);
        }
        catch (Exception e)
        {
            // Refused before it ran: bad input, a model the key may not use, a rate limit or a budget.
            RecordRefusal(floor, metrics, caller, model ?? host.ModelName ?? "", generation.Name, ErrorMapper.StatusOf(context, e), e);
            throw;
        }
    }

    private async Task<Admission> AdmitAsync(HttpContext context, Caller caller, IMeteredWork work, string endpoint)
    {
        Admission admission;
        using var span = activities.StartAdmission(endpoint, work.Model, work.PromptTokens, work.MaxCompletionTokens);
        try
        {
            admission = await floor.AdmitAsync(caller, work.Model, endpoint, work.PromptTokens, work.MaxCompletionTokens, context.RequestAborted, work.Id);
        }
        catch (FloorDeniedException denied)
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, denied.Reason.ToString());
            WriteRateLimitHeaders(context.Response, denied.RateLimit);
            throw;
        }
        WriteRateLimitHeaders(context.Response, admission.RateLimit);
        if (admission.SoftReached.Count > 0)
        {
            var parts = new List<string>();
            foreach (var s in admission.SoftReached)
            {
                parts.Add($"{s.Budget.Id}: {BudgetText.Amount(s.Budget.Unit, s.Spent)} of {BudgetText.Amount(s.Budget.Unit, s.Budget.Hard)} ({s.Budget.Describe()})");
                FloorLog.SoftLimit(logger, s.Budget.Describe(), BudgetText.Amount(s.Budget.Unit, s.Spent));
            }
            context.Response.Headers[BudgetWarningHeader] = string.Join("; ", parts);
        }
        return admission;
    }

    /// <summary>
    /// Counts a request refused before it ran, in the ledger's refusal counts (unless the fleet's router sent it: its ledger
    /// counts it) and in /metrics, under the error code the client got.
    /// </summary>
    public static void RecordRefusal(FloorService floor, ServerMetrics metrics, Caller caller, string model, string endpoint, int status, Exception e)
    {
        string reason = status == ErrorMapper.ClientClosedRequest ? "client_closed" : ErrorMapper.Map(e) is var mapped ? mapped.Code ?? mapped.Type : "";
        if (!caller.IsInternal)
            floor.Refusals.Record(caller, model, endpoint, status, reason);
        metrics.CountRefusal(endpoint, reason);
    }

    /// <summary>
    /// Who the engine shares itself fairly between: the API key; without keys, the request's <c>user</c>, else the
    /// client's address.
    /// </summary>
    private static string TenantOf(HttpContext context, Caller caller, IMeteredWork work) =>
        caller.KeyId ?? (string.IsNullOrEmpty(work.User) ? context.Connection.RemoteIpAddress?.ToString() ?? "" : "user:" + work.User);

    /// <summary>OpenAI's names: x-ratelimit-{limit,remaining,reset}-{requests,tokens}.</summary>
    private static void WriteRateLimitHeaders(HttpResponse response, RateLimitStatus? status)
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
