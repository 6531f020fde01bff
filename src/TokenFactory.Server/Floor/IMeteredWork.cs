using Microsoft.AspNetCore.Http;
using TokenFactory.Engine;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Server.Floor;

/// <summary>
/// A generation an endpoint has planned but not run: what <see cref="FloorFilter"/> needs to admit it, and how it
/// runs once admitted. The server's engine work (<see cref="Generation.GenerationWork"/>) and the fleet router's
/// forwarded work both are one, so the floor admits, meters and settles them the same way.
/// </summary>
internal interface IMeteredWork
{
    /// <summary>The response id the client sees, also the ledger's request id.</summary>
    string Id { get; }
    string Model { get; }
    /// <summary>Prompt tokens, each prompt counted once however many choices share it.</summary>
    long PromptTokens { get; }
    /// <summary>All choices' max_tokens together: the most this request can generate.</summary>
    long MaxCompletionTokens { get; }
    /// <summary>The request's <c>user</c>: without API keys, whom the engine shares itself fairly between.</summary>
    string? User { get; }
    /// <summary>When the request arrived, on the server's <see cref="TimeProvider"/>.</summary>
    long Started { get; }

    /// <summary>
    /// The response that runs the admitted work and settles <paramref name="metered"/> once (its admission is null for a
    /// fleet router's request: the router admits and records it). <paramref name="priority"/> is the class the router
    /// sent; standard otherwise.
    /// </summary>
    IResult Admitted(MeteredRequest metered, Caller caller, string tenant, PriorityClass priority);
}

/// <summary>What answers generation behind the floor: the server's engine host, or the fleet router.</summary>
internal interface IGenerationHost
{
    /// <summary>The model a refusal is recorded under when the request never got far enough to name one (null for a router: it serves many).</summary>
    string? ModelName { get; }

    /// <summary>Counts a generation in flight until the returned lease is disposed (once its response ended); draining waits for them.</summary>
    /// <exception cref="Api.OpenAiException">503 server_draining once shutdown began.</exception>
    IDisposable EnterGeneration(int retryAfterSeconds);
}
