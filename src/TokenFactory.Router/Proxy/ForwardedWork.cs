using Microsoft.AspNetCore.Http;
using TokenFactory.Engine;
using TokenFactory.Floor.Identity;
using TokenFactory.Router.Routing;
using TokenFactory.Server.Floor;

namespace TokenFactory.Router.Proxy;

/// <summary>
/// A generation request the router has checked and shaped, ready to forward: the floor admits it like any other
/// (<see cref="IMeteredWork"/>), then <see cref="ForwardedGeneration"/> places it on a replica and relays the answer.
/// </summary>
internal sealed class ForwardedWork(string id, string path, byte[] upstreamBody, RouteRequest route, long maxCompletionTokens, long started,
    bool stream, bool clientWantsUsage) : IMeteredWork, IResult
{
    /// <summary>The one forwarded endpoint that generates nothing: its answer is a list of vectors.</summary>
    public const string EmbeddingsPath = "/v1/embeddings";

    public string Id { get; } = id;
    public string Model => Route.Model;
    /// <summary>What the floor reserves for the prompt: exact with the model's tokenizer, else a bound it cannot exceed.</summary>
    public long PromptTokens => Route.Shape.MostTokens;
    public long MaxCompletionTokens { get; } = maxCompletionTokens;
    public string? User { get; init; }
    public long Started { get; } = started;

    /// <summary>The endpoint on the replica: <c>/v1/chat/completions</c> or <c>/v1/completions</c>.</summary>
    public string Path { get; } = path;
    /// <summary>The body sent upstream: the client's, with the usage chunk asked for when it streams.</summary>
    public byte[] UpstreamBody { get; } = upstreamBody;

    /// <summary>
    /// When the client set no completion limit: <see cref="UpstreamBody"/> with the one the floor reserved as
    /// <c>max_tokens</c>, and the context length that reservation assumed.
    /// </summary>
    public (byte[] Body, int ContextLength)? Limited { get; init; }

    /// <summary>
    /// What goes to <paramref name="replica"/>: the reserved limit, unless the replica reports a context no longer than
    /// the reservation assumed (it stops there itself, and a TokenFactory replica refuses a prompt plus
    /// <c>max_tokens</c> past its context, which an estimated prompt's full-context limit would be). A replica with a
    /// longer context, or one that reports none (a third-party server), could otherwise generate past the reservation.
    /// </summary>
    public byte[] UpstreamBodyFor(Replicas.Replica replica) =>
        Limited is { } limited && !(replica.Status is { ContextLength: > 0 } status && status.ContextLength <= limited.ContextLength)
            ? limited.Body : UpstreamBody;
    public RouteRequest Route { get; } = route;
    public bool Stream { get; } = stream;
    /// <summary>Whether the client asked for the stream's usage chunk (the router always asks the replica for it, to meter).</summary>
    public bool ClientWantsUsage { get; } = clientWantsUsage;

    /// <remarks>The router's own class (from the caller and <c>service_tier</c>) goes with the request; the router never has a router of its own.</remarks>
    public IResult Admitted(MeteredRequest metered, Caller caller, string tenant, PriorityClass priority) => new ForwardedGeneration(this, metered, tenant);

    Task IResult.ExecuteAsync(HttpContext httpContext) =>
        throw new InvalidOperationException("A forwarded generation reached the response without the floor's admission (the endpoint lacks FloorFilter).");
}
