using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Floor;

/// <summary>The status a failed generation goes into the ledger with (the HTTP status, or 499 when the client left).</summary>
internal static class FloorStatus
{
    private const string Key = "tokenfactory.floor.failure-status";

    /// <summary>Remembers why a generation failed; always false, so it can sit in an exception filter without catching.</summary>
    public static bool Failed(HttpContext context, Exception error)
    {
        context.Items[Key] = context.RequestAborted.IsCancellationRequested
            ? ErrorHandlingMiddleware.ClientClosedRequest
            : ErrorHandlingMiddleware.Map(error).Status;
        return false;
    }

    public static int Of(HttpContext context) =>
        context.Items[Key] is int status ? status
        : context.RequestAborted.IsCancellationRequested ? ErrorHandlingMiddleware.ClientClosedRequest
        : StatusCodes.Status500InternalServerError;

    public static TokenFactory.Floor.FloorService Floor(HttpContext context) => context.RequestServices.GetRequiredService<TokenFactory.Floor.FloorService>();

    public static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("TokenFactory.Server.Floor");
}
