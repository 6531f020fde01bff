using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Proxy;
using TokenFactory.Router.Replicas;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Floor;

namespace TokenFactory.Router.Api;

/// <summary>The router's other endpoints: the fleet's models, its health, llama.cpp's inspection endpoints (relayed) and the fleet's state.</summary>
internal static class FleetEndpoints
{
    /// <summary>GET /v1/models: every model some replica serves, as far as the caller's key may see them.</summary>
    public static IResult Models(HttpContext context, ReplicaSet replicas, TimeProvider time)
    {
        var key = CallerFeature.Of(context).Key;
        var cards = replicas.Models().Where(m => key?.Allows(m) ?? true).Select(m => Card(m, replicas, time)).ToList();
        return Results.Json(new ModelList { Data = cards }, OpenAiJson.Default.ModelList);
    }

    public static IResult Model(HttpContext context, string id, ReplicaSet replicas, TimeProvider time)
    {
        string model = GenerationPlans.ResolveModel(id, replicas);
        CallerFeature.CheckModel(context, model);
        return Results.Json(Card(model, replicas, time), OpenAiJson.Default.ModelCard);
    }

    private static ModelCard Card(string model, ReplicaSet replicas, TimeProvider time) => new()
    {
        Id = model,
        Created = time.GetUtcNow().ToUnixTimeSeconds(),
        OwnedBy = "tokenfactory",
    };

    /// <summary>GET /health: 200 while some replica takes requests, 503 otherwise (a load balancer in front of several routers reads it).</summary>
    public static IResult Health(ReplicaSet replicas, RouterState state)
    {
        if (state.Draining)
            return Results.Json(new HealthResponse { Status = "draining", Message = "The router is shutting down" }, OpenAiJson.Default.HealthResponse, statusCode: 503);
        int up = replicas.All.Count(r => replicas.IsAvailable(r) && !r.IsDraining);
        return up > 0
            ? Results.Json(new HealthResponse { Status = "ok", Message = $"{up} of {replicas.All.Count} replicas up" }, OpenAiJson.Default.HealthResponse)
            : Results.Json(new HealthResponse { Status = "no_replica", Message = $"none of {replicas.All.Count} replicas is up" }, OpenAiJson.Default.HealthResponse, statusCode: 503);
    }

    /// <summary>GET /admin/fleet: each replica's health, load and what the router has in flight and believes cached there.</summary>
    public static IResult Fleet(ReplicaSet replicas, Dispatcher dispatcher) => Results.Json(new FleetBody
    {
        Policy = dispatcher.Policy.Name,
        QueuedRequests = dispatcher.Queued,
        Replicas = [.. replicas.All.Select(r =>
        {
            var health = replicas.Health(r);
            return new FleetReplicaBody
            {
                Name = r.Name, Url = r.Url.ToString(), Available = health.Available && !r.IsDraining, ActiveHealth = health.Active, PassiveHealth = health.Passive,
                Models = [.. r.Models], ReportsStatus = r.ReportsStatus, State = r.Status?.State, Running = r.Status?.Running, Waiting = r.Status?.Waiting,
                InFlightSequences = r.InFlightSequences, QueuedPrefillTokens = r.QueuedPrefillTokens, PrefillTokensPerSecond = r.Status?.PrefillTokensPerSecond,
                CachedBlocksBelieved = r.Index.Count,
            };
        })],
    }, FleetJson.Default.FleetBody);

    /// <summary>llama.cpp's /tokenize, /detokenize and /apply-template: relayed as they are to a replica serving the model.</summary>
    public static async Task InspectAsync(HttpContext context, ReplicaSet replicas, IHttpForwarder forwarder, RouterToken token)
    {
        var (body, raw) = await RequestBody.ReadWithBytesAsync(context, InspectionJson.Default.InspectionModel);
        string model = GenerationPlans.ResolveModel(body.Model, replicas);
        CallerFeature.CheckModel(context, model);
        var replica = replicas.Candidates(model).OrderBy(r => r.InFlightSequences).FirstOrDefault()
            ?? throw new OpenAiException(503, $"No replica serving '{model}' is up; retry shortly.", OpenAiErrorTypes.Unavailable, code: "no_replica_available") { RetryAfterSeconds = 1 };
        context.Request.Body = new MemoryStream(raw, writable: false); // read once already: YARP sends it again
        context.Request.ContentLength = raw.Length;
        var error = await forwarder.SendAsync(context, replica.Prefix, replicas.ClusterState!.Model.HttpClient, new ForwarderRequestConfig(),
            new RelayAsIs(token.Value, replica));
        if (error is not ForwarderError.None && !context.Response.HasStarted)
            throw new OpenAiException(502, $"The replica {replica.Name} could not be reached ({error}).", OpenAiErrorTypes.Server, code: "upstream_unreachable");
    }

    private sealed class RelayAsIs(string? token, Replica replica) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.Headers.Authorization = token is null ? null : new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            proxyRequest.Headers.Remove("Cookie");
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            bool copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
            httpContext.Response.Headers[UpstreamTransformer.ReplicaHeader] = replica.Name;
            return copy;
        }
    }
}

/// <summary>
/// Whether the router is shutting down: from the first signal it admits no new generation (503 <c>server_draining</c>, so
/// a client retries on another router) and finishes what it forwards within the shutdown deadline.
/// </summary>
public sealed class RouterState : IGenerationHost
{
    public bool Draining { get; set; }

    /// <summary>A router serves many models: a refusal before the request named one is recorded without.</summary>
    string? IGenerationHost.ModelName => null;

    IDisposable IGenerationHost.EnterGeneration(int retryAfterSeconds) => Draining
        ? throw new OpenAiException(503, "This router is shutting down; retry on another one or shortly.", OpenAiErrorTypes.Unavailable, code: "server_draining")
        {
            RetryAfterSeconds = retryAfterSeconds,
        }
        : NoLease.Instance;

    private sealed class NoLease : IDisposable
    {
        public static readonly NoLease Instance = new();

        public void Dispose()
        {
        }
    }
}
