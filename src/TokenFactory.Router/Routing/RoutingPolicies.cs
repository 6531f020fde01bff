using TokenFactory.Router.Replicas;

namespace TokenFactory.Router.Routing;

/// <summary>Picks the replica a request goes to among those that may take it now (healthy, serving its model, with room).</summary>
public interface IRoutingPolicy
{
    string Name { get; }

    Replica Choose(RouteRequest request, IReadOnlyList<Replica> candidates);

    /// <param name="name"><c>prefix</c>, <c>least-load</c> or <c>round-robin</c>.</param>
    static IRoutingPolicy Create(string name) => name.ToLowerInvariant() switch
    {
        "prefix" => new PrefixAwarePolicy(),
        "least-load" => new LeastLoadPolicy(),
        "round-robin" => new RoundRobinPolicy(),
        _ => throw new TokenFactoryException($"unknown routing policy '{name}': use prefix, least-load or round-robin."),
    };
}

/// <summary>
/// Knows the KV cache (as NVIDIA Dynamo's router and llm-d's prefix scorer do): the cost of a replica is the prompt
/// tokens it would still have to compute (what it is believed not to hold, from the blocks the router sent it), counted
/// twice, plus the prefill already queued there, plus a decode cost per sequence it runs, all in tokens. The cheapest wins; a
/// long shared prefix stays where it is cached until that replica is busier by more than the prefix is worth.
/// </summary>
public sealed class PrefixAwarePolicy : IRoutingPolicy
{
    /// <summary>
    /// What one running sequence costs a new request there, in prompt tokens: a decode step shares the weights' read
    /// with the prefill, so the cost is small per sequence, but a crowded replica decodes every sequence slower.
    /// </summary>
    public const int DecodeTokensPerSequence = 32;

    /// <summary>
    /// Prompt tokens a replica would have to compute weigh twice those already queued there: queued work delays only
    /// this request, while new work is capacity the whole fleet loses (and a copy of a prefix another replica holds
    /// crowds that replica's cache). A busy replica holding the prefix still loses to an idle one once its queue is
    /// longer than twice the prefix.
    /// </summary>
    public const double NewPrefillWeight = 2;

    public string Name => "prefix";

    public Replica Choose(RouteRequest request, IReadOnlyList<Replica> candidates)
    {
        Replica? best = null;
        double bestCost = double.MaxValue;
        foreach (var r in candidates)
        {
            double cost = Cost(request, r);
            if (cost < bestCost || (cost == bestCost && best is not null && Emptier(r, best)))
                (best, bestCost) = (r, cost);
        }
        return best!;
    }

    /// <summary>
    /// Between equal costs (no replica holds the prompt, none is busier): the one running less, then the one believed
    /// to cache less, so new prefixes spread over the fleet's caches instead of piling onto the first replica.
    /// </summary>
    private static bool Emptier(Replica r, Replica than) =>
        r.InFlightSequences != than.InFlightSequences ? r.InFlightSequences < than.InFlightSequences : r.Index.Count < than.Index.Count;

    public static double Cost(RouteRequest request, Replica r)
    {
        int matched = r.Index.MatchedBlocks(request.Shape.Blocks);
        long active = Math.Max(r.InFlightSequences, r.Status is { } s ? s.Running + s.Waiting : 0);
        return NewPrefillWeight * request.NewPrefillTokens(matched) + r.QueuedPrefillTokens + (double)DecodeTokensPerSequence * active;
    }
}

/// <summary>The fewest sequences in flight, relative to the replica's running slots: load only, as LiteLLM's router.</summary>
public sealed class LeastLoadPolicy : IRoutingPolicy
{
    public string Name => "least-load";

    public Replica Choose(RouteRequest request, IReadOnlyList<Replica> candidates) =>
        candidates.MinBy(r => (double)Math.Max(r.InFlightSequences, r.Status is { } s ? s.Running + s.Waiting : 0) / r.MaxRunning)!;
}

/// <summary>Each replica in turn, whatever it holds or runs: the baseline the others are measured against.</summary>
public sealed class RoundRobinPolicy : IRoutingPolicy
{
    private int _next = -1;

    public string Name => "round-robin";

    public Replica Choose(RouteRequest request, IReadOnlyList<Replica> candidates)
    {
        var ordered = candidates.OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        return ordered[(int)((uint)Interlocked.Increment(ref _next) % (uint)ordered.Count)];
    }
}
