using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Floor;

/// <summary>
/// Identity for every API call (/v1 and llama.cpp's /tokenize, /detokenize, /apply-template: Bearer API key,
/// 401 in OpenAI's shape) and the admin key for /admin; only /health and /metrics are open (probes, scrapers).
/// Generation requests get a <see cref="MeteredRequest"/>; one refused before it was admitted (bad input,
/// rate limit, quota) is still written to the ledger with its status.
/// </summary>
internal sealed class FloorMiddleware(RequestDelegate next, FloorService floor, TimeProvider time, ILogger<FloorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        string? authorization = context.Request.Headers.Authorization;
        if (path.StartsWithSegments("/admin"))
        {
            if (!floor.IsAdmin(authorization))
                throw new OpenAiException(401, string.IsNullOrEmpty(floor.Options.AdminKey)
                    ? "The admin API is disabled: set TokenFactory:Floor:AdminKey (or TOKENFACTORY_ADMIN_KEY for `tokenfactory serve`)."
                    : "The admin API needs the admin key in an Authorization header using Bearer auth.", OpenAiErrorTypes.InvalidRequest, code: "invalid_admin_key");
            await next(context);
            return;
        }
        if (path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics"))
        {
            await next(context);
            return;
        }
        var caller = await floor.AuthenticateAsync(authorization, context.RequestAborted);
        string? endpoint = HttpMethods.IsPost(context.Request.Method) ? GenerationEndpoint(path) : null;
        if (endpoint is null)
        {
            await next(context);
            return;
        }
        var metered = new MeteredRequest(caller, endpoint, time.GetUtcNow(), time.GetTimestamp(), time);
        context.Items[typeof(MeteredRequest)] = metered;
        int status = 500;
        try
        {
            await next(context);
            status = context.Response.StatusCode;
        }
        catch (Exception e)
        {
            status = context.RequestAborted.IsCancellationRequested ? ErrorHandlingMiddleware.ClientClosedRequest : ErrorHandlingMiddleware.Map(e).Status;
            throw;
        }
        finally
        {
            if (metered.Admission is null)
                await RecordRefusalAsync(metered, status);
        }
    }

    private async Task RecordRefusalAsync(MeteredRequest metered, int status)
    {
        try
        {
            await floor.RecordRefusalAsync(metered.Caller, metered.Model ?? "", metered.Endpoint, status, metered.Started);
        }
        catch (Exception e)
        {
            FloorLog.RecordFailed(logger, e, metered.Endpoint);
        }
    }

    private static string? GenerationEndpoint(PathString path) =>
        path.Equals("/v1/chat/completions", StringComparison.OrdinalIgnoreCase) ? "/v1/chat/completions"
        : path.Equals("/v1/completions", StringComparison.OrdinalIgnoreCase) ? "/v1/completions"
        : null;
}
