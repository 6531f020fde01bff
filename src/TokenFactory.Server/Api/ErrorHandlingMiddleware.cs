using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>
/// Writes every failure in OpenAI's error shape with the status <see cref="ErrorMapper"/> gives it. A client
/// that went away gets nothing (and 499 in the metrics). Server faults are logged with their stack trace;
/// client errors (400, 404, 429, …) at debug level, one line each, so a flood of bad requests cannot flood the log.
/// </summary>
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ILogger<ErrorHandlingMiddleware> logger, IOptions<ServerOptions> options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (ErrorMapper.IsClientGone(context, e))
        {
            Log.ClientGone(logger, context.Request.Path);
            if (!context.Response.HasStarted)
                context.Response.StatusCode = ErrorMapper.ClientClosedRequest;
        }
        catch (Exception e)
        {
            var error = ErrorMapper.Map(e, options.Value.RetryAfterSeconds);
            if (ErrorMapper.IsServerFault(e, error))
                Log.Unhandled(logger, e, context.Request.Path);
            else
                Log.Refused(logger, context.Request.Method, context.Request.Path, error.Status, error.Code ?? error.Type, error.Message);
            if (context.Response.HasStarted)
            {
                // Too late for a status. An answer not ended yet would pass for whole if the body ended normally (a stream
                // without [DONE] reads as finished to the SDKs): the connection is dropped, which clients see as an error.
                // One that sent its end (an error event and [DONE]) stands as it is.
                if (!StreamEnd.IsMarked(context))
                    context.Abort();
                return;
            }
            await WriteAsync(context, error);
        }
    }

    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        context.Response.StatusCode = error.Status;
        if (error.RetryAfterSeconds is int seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await context.Response.WriteAsJsonAsync(ToBody(error), OpenAiJson.Default.ErrorResponse, contentType: null, context.RequestAborted);
    }

    public static ErrorResponse ToBody(OpenAiException error) =>
        new() { Error = new ErrorBody { Message = error.Message, Type = error.Type, Param = error.Param, Code = error.Code } };
}
