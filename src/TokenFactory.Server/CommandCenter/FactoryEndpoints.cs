using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TokenFactory.Floor;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.CommandCenter;

/// <summary>The command center's data: GET /v1/factory/{now,history,stream,teams} (docs/command-center.md).</summary>
public static class FactoryEndpoints
{
    /// <summary>Maps the data API, the page and its sign-in; <c>serve</c> and <c>route</c> both call it.</summary>
    public static IEndpointRouteBuilder MapCommandCenter(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/v1/factory").AddEndpointFilter(async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            context.Items[RoleItem] = context.RequestServices.GetRequiredService<DashboardAccess>().Require(context);
            context.Response.Headers.CacheControl = "no-store";
            return await next(invocation);
        });
        api.MapGet("/now", (HttpContext context, FactoryMonitor monitor, TimeProvider time) => TypedResults.Json(Now(monitor, Role(context), time), FactoryJson.Default.FactoryNow));
        api.MapGet("/history", History);
        api.MapGet("/stream", StreamAsync);
        api.MapGet("/teams", TeamsReport.GetAsync);
        api.MapGet("/plan", PlanEndpoint.Get);
        DashboardEndpoints.Map(endpoints);
        return endpoints;
    }

    private const string RoleItem = "tokenfactory.factory_role";

    private static string Role(HttpContext context) => context.Items[RoleItem] as string ?? "open";

    internal static FactoryNow Now(FactoryMonitor monitor, string role, TimeProvider time)
    {
        var latest = monitor.Ring.Latest;
        var (source, estimated) = monitor.Power;
        return new FactoryNow
        {
            Mode = monitor.Mode,
            Role = role,
            Time = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            Sample = latest,
            Totals = monitor.Totals,
            Power = new FactoryPower(source, estimated),
            Classes = [.. monitor.Classes.Select(c => new FactoryClass(c.Name, c.TtftSeconds, c.TpotSeconds))],
            Replicas = [.. monitor.Replicas.Select(r => new FactoryReplicaView
            {
                Id = r.Id,
                Name = r.Name,
                Url = r.Url,
                Healthy = r.Healthy,
                State = r.State,
                Models = r.Models,
                Running = r.Running,
                Waiting = r.Waiting,
                KvUsedTokens = r.KvUsedTokens,
                KvCapacityTokens = r.KvCapacityTokens,
                OutputTps = latest?.Replicas.GetValueOrDefault(r.Id)?.OutputTps ?? 0,
            })],
            Models = monitor.Models(),
        };
    }

    private static IResult History(FactoryMonitor monitor, TimeProvider time, string? window)
    {
        int seconds = ParseWindow(window);
        double since = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0 - seconds;
        return Results.Json(new FactoryHistory(seconds, monitor.Ring.Since(since, minutes: seconds > SampleRing.SecondCapacity)), FactoryJson.Default.FactoryHistory);
    }

    /// <summary><c>5m</c>, <c>15m</c>, <c>1h</c>, <c>6h</c>, <c>24h</c> or a number of seconds up to a day; one hour when absent.</summary>
    internal static int ParseWindow(string? window)
    {
        if (string.IsNullOrEmpty(window))
            return 3600;
        // In long arithmetic: "71582789m" must not wrap around into a small window.
        long? seconds = window switch
        {
            _ when window.EndsWith('m') && long.TryParse(window[..^1], out long m) && m is > 0 and < 1_000_000 => m * 60,
            _ when window.EndsWith('h') && long.TryParse(window[..^1], out long h) && h is > 0 and < 1_000_000 => h * 3600,
            _ when long.TryParse(window, out long s) => s,
            _ => null,
        };
        if (seconds is not (> 0 and <= 86_400))
            throw OpenAiException.Invalid($"'window' must be 5m, 15m, 1h, 6h, 24h or a number of seconds from 1 to 86400; got '{window}'.", "window");
        return (int)seconds.Value;
    }

    /// <summary>
    /// Server-sent events: the /now object once a second until the client leaves, its session ends or the server stops.
    /// The wait for the next sample is taken before the current one is written, so a sample taken meanwhile is not skipped.
    /// </summary>
    private static async Task StreamAsync(HttpContext context, FactoryMonitor monitor, DashboardAccess access, TimeProvider time, IHostApplicationLifetime lifetime)
    {
        string? role = Role(context);
        var sse = new Generation.SseWriter(context);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            while (role is not null)
            {
                var next = monitor.NextSampleAsync(stop.Token);
                await sse.WriteAsync(Now(monitor, role, time), FactoryJson.Default.FactoryNow, "now");
                await next;
                role = access.RoleOf(context, recheck: true); // signed out or expired: the stream ends (the page then finds it signed out)
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
            // the client left, or the server is stopping: the stream simply ends
        }
    }
}
