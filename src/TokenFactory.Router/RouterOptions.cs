namespace TokenFactory.Router;

/// <summary>
/// The <c>TokenFactory:Router</c> configuration section: the replicas behind the router and how it routes to them.
/// Bound from appsettings.json, environment variables (<c>TokenFactory__Router__Policy=least-load</c>) and
/// <c>tokenfactory route</c>'s options, in rising precedence.
/// </summary>
public sealed class RouterOptions
{
    public const string Section = "TokenFactory:Router";

    /// <summary>The replicas' base URLs (<c>http://10.0.0.5:8080</c>): TokenFactory <c>serve</c> processes or any OpenAI-compatible server.</summary>
    public List<string> Replicas { get; set; } = [];

    /// <summary><c>prefix</c> (expected prefill work plus load, knowing what each replica caches), <c>least-load</c> or <c>round-robin</c>.</summary>
    public string Policy { get; set; } = "prefix";

    /// <summary>
    /// Model id → GGUF file, read for its tokenizer and chat template only (no weights are loaded), so the router
    /// tokenizes prompts as the replicas do. Without one a model's prompts are hashed by text, approximately.
    /// </summary>
    public Dictionary<string, string> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How often each replica's load is read (<c>/internal/status</c>); a poll may take two and a half intervals (0.25 to 0.8 s), and two timed-out polls in a row with nothing else from a replica eject it (about a second at the default).</summary>
    public int StatusIntervalMilliseconds { get; set; } = 200;

    /// <summary>
    /// A replica's answer must begin within this (a stream's first token; a non-streamed answer whole, so it covers the
    /// longest generation): past it the request goes once to another replica, or ends with 503. The replica is not
    /// taken out of rotation for it (its status polls decide that).
    /// </summary>
    public double FirstByteTimeoutSeconds { get; set; } = 900;

    /// <summary>
    /// Once its answer began, a replica that sends nothing more for this long is given up on: the stream ends with an
    /// <c>upstream_stream_cut</c> event. Long: a batch stream may pause while interactive work takes its slot.
    /// </summary>
    public double UpstreamTimeoutSeconds { get; set; } = 600;

    /// <summary>Connecting to a replica takes at most this long before another is tried.</summary>
    public double ConnectTimeoutSeconds { get; set; } = 2;

    /// <summary>
    /// Sequences the router sends a replica beyond its running slots. Kept small so that requests wait at the router,
    /// where they are ordered by deadline across classes, rather than in a replica's own queue.
    /// </summary>
    public int ReplicaQueueDepth { get; set; } = 4;

    /// <summary>Running slots assumed for a replica that does not report them (a third-party server).</summary>
    public int DefaultMaxRunning { get; set; } = 8;

    /// <summary>Context length assumed for a model no replica reports (a third-party server).</summary>
    public int DefaultContextLength { get; set; } = 4096;

    /// <summary>Requests that may wait at the router for a replica; beyond that: 503 with Retry-After.</summary>
    public int MaxQueuedRequests { get; set; } = 256;

    /// <summary>The priority classes' latency targets; the defaults below apply to classes not named here.</summary>
    public Dictionary<string, SloTargets> Classes { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>A class's service-level objectives: time to first token and time per output token (p99 goals).</summary>
public sealed class SloTargets
{
    public double TtftSeconds { get; set; }
    public double TpotSeconds { get; set; }
}
