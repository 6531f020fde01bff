using System.Text.Json.Nodes;
using TokenFactory.Engine;

namespace TokenFactory.Router.Proxy;

/// <summary>
/// What the router saw of one answer as it relayed it: the replica's usage (and the engine's work, which a TokenFactory
/// replica adds for its router), the tokens it counted on the way (all there is when a stream was cut), and when the
/// first one passed.
/// </summary>
internal sealed class RelayedUsage(TimeProvider time, long started)
{
    public long? PromptTokens { get; private set; }
    public long CachedPromptTokens { get; private set; }
    public long? CompletionTokens { get; private set; }
    /// <summary>Content pieces relayed (a streamed chunk is a token): the count a cut stream is metered by.</summary>
    public long TokensSeen { get; private set; }
    public TimeSpan? TimeToFirstToken { get; private set; }
    public TimeSpan? LastToken { get; private set; }
    public WorkShare Work { get; private set; }
    public TimeSpan QueueTime { get; private set; }
    public bool? EnergyEstimated { get; private set; }
    /// <summary>The first token's time as the replica's engine measured it (a TokenFactory replica reports it).</summary>
    public TimeSpan? ReplicaTimeToFirstToken { get; private set; }

    public void Token(int pieces = 1)
    {
        var now = time.GetElapsedTime(started);
        TimeToFirstToken ??= now;
        LastToken = now;
        TokensSeen += pieces;
    }

    /// <summary>
    /// Reads OpenAI's usage object, and the <c>tokenfactory</c> work a replica adds to it for its router. A field that is
    /// missing, negative or not a number is taken as absent (a third-party server's oddity never breaks the relay).
    /// </summary>
    public void Read(JsonObject usage)
    {
        PromptTokens = Count(usage["prompt_tokens"]) ?? PromptTokens;
        CompletionTokens = Count(usage["completion_tokens"]) ?? CompletionTokens;
        CachedPromptTokens = Count(usage["prompt_tokens_details"] is JsonObject details ? details["cached_tokens"] : null) ?? CachedPromptTokens;
        if (usage["tokenfactory"] is JsonObject work)
        {
            double prefill = Seconds(work["prefill_seconds"]), decode = Seconds(work["decode_seconds"]), joules = Seconds(work["energy_joules"]);
            double share = prefill + decode > 0 ? prefill / (prefill + decode) : 0;
            Work = new WorkShare(prefill, decode, joules * share, joules * (1 - share));
            QueueTime = TimeSpan.FromSeconds(Seconds(work["queue_seconds"]));
            EnergyEstimated = work["energy_estimated"] is JsonValue v && v.TryGetValue(out bool estimated) ? estimated : null;
            if (work["time_to_first_token_seconds"] is JsonValue t && t.TryGetValue(out double ttft) && double.IsFinite(ttft) && ttft >= 0)
                ReplicaTimeToFirstToken = TimeSpan.FromSeconds(ttft);
        }
    }

    private static long? Count(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) && d >= 0 && d <= long.MaxValue ? (long)d : null;

    private static double Seconds(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) && double.IsFinite(d) && d >= 0 ? d : 0;

    /// <summary>
    /// A whole (not streamed) answer arrives at once, so when it passed says nothing of its first token: take the time
    /// the replica's engine measured, as a single server records it, so the ledger's time to first token and time per
    /// output token mean the same behind the router as without it.
    /// </summary>
    public void Answered(int choices)
    {
        Token(choices);
        if (ReplicaTimeToFirstToken is { } measured && measured < TimeToFirstToken)
            TimeToFirstToken = measured;
    }

    /// <summary>Completion tokens: the replica's count when it gave one, else what passed through.</summary>
    public long Completion => CompletionTokens ?? TokensSeen;

    /// <summary>Time per output token after the first, as the client saw them arrive.</summary>
    public TimeSpan? TimePerOutputToken => TimeToFirstToken is { } first && LastToken is { } last && TokensSeen > 1
        ? (last - first) / (TokensSeen - 1) : null;
}
