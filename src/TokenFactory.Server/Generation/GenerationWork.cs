using Microsoft.AspNetCore.Http;
using TokenFactory.Engine;
using TokenFactory.Floor.Identity;
using TokenFactory.Server.Floor;

namespace TokenFactory.Server.Generation;

/// <summary>
/// A generation request parsed, checked and tokenized but not yet admitted or run: what the floor needs to
/// admit it (model, prompt tokens, worst case) and how to run and answer it once admitted. The generation
/// endpoints return one; the floor's filter admits it and runs it metered. Executed without that filter it
/// refuses to run, so no generation can bypass the floor.
/// </summary>
internal abstract class GenerationWork(IInferenceEngine engine, IReadOnlyList<GenerationRequest> requests, int choicesPerPrompt,
    string id, string model, long promptTokens, long started) : IResult, IMeteredWork
{
    public IInferenceEngine Engine { get; } = engine;
    /// <summary>One engine request per choice; choices i·n … i·n+n−1 share prompt i.</summary>
    public IReadOnlyList<GenerationRequest> Requests { get; } = requests;
    public int ChoicesPerPrompt { get; } = choicesPerPrompt;
    /// <summary>The response id the client sees (<c>chatcmpl-…</c>, <c>cmpl-…</c>), also the ledger's request id.</summary>
    public string Id { get; } = id;
    public string Model { get; } = model;
    /// <summary>Prompt tokens, each prompt counted once however many choices share it.</summary>
    public long PromptTokens { get; } = promptTokens;
    /// <summary>All choices' max_tokens together: the most this request can generate.</summary>
    public long MaxCompletionTokens => Requests.Sum(r => (long)r.MaxTokens);
    /// <summary>When the request arrived, on the server's <see cref="TimeProvider"/>.</summary>
    public long Started { get; } = started;

    /// <summary>
    /// Whether the response streams: its choices are then paced by how fast the client reads (<see cref="ChoiceRunner"/>); a
    /// collected answer is read as fast as the engine makes it.
    /// </summary>
    public abstract bool Streams { get; }

    /// <summary>The request's <c>user</c>: without API keys, whom the engine shares itself fairly between.</summary>
    public string? User { get; init; }

    /// <summary>
    /// Streams or collects the choices and writes the response. A completed response calls
    /// <see cref="Settlement.CompleteAsync"/> before its last byte, so what a client saw complete is in the ledger.
    /// </summary>
    public abstract Task RespondAsync(HttpContext context, ChoiceRunner runner, Settlement settlement);

    public IResult Admitted(MeteredRequest metered, Caller caller, string tenant, PriorityClass priority) => new MeteredGeneration(this, metered, tenant, priority);

    Task IResult.ExecuteAsync(HttpContext httpContext) =>
        throw new InvalidOperationException("A generation reached the response without the floor's admission (the endpoint lacks FloorFilter).");
}
