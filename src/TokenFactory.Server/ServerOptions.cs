using TokenFactory.Platform;

namespace TokenFactory.Server;

/// <summary>
/// The <c>TokenFactory</c> configuration section. Bound from appsettings.json, environment variables
/// (<c>TokenFactory__Port=8081</c>) and <c>tokenfactory serve</c>'s options, in rising precedence.
/// </summary>
public sealed class ServerOptions
{
    public const string Section = "TokenFactory";

    /// <summary>GGUF file to serve (required: <c>tokenfactory serve</c> fills in its default when none is configured).</summary>
    public string? Model { get; set; }

    /// <summary>The id clients use in <c>model</c>; defaults to the file name without <c>.gguf</c>.</summary>
    public string? ModelName { get; set; }

    public string Host { get; set; } = "127.0.0.1";

    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Compute threads; 0 means all cores.</summary>
    public int Threads { get; set; }

    /// <summary>Tokens per sequence; 0 means the model's training context, capped at 4096.</summary>
    public int ContextLength { get; set; }

    /// <summary>Requests allowed to wait for the engine; more are refused with 503 and Retry-After.</summary>
    public int MaxWaitingRequests { get; set; } = 64;

    /// <summary>The Retry-After (seconds) a request refused because the engine's wait queue is full is given.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Larger request bodies get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>max_tokens when a request gives none; 0 fills the rest of the context.</summary>
    public int DefaultMaxTokens { get; set; }

    /// <summary>Paged KV cache budget, e.g. <c>512MiB</c> or <c>2GB</c>; empty sizes it for every running sequence's full context, capped at 1 GiB.</summary>
    public string? KvCacheMemory { get; set; }

    /// <summary>
    /// Hybrid (Mamba) models: memory for recurrent-state snapshots, e.g. <c>1GiB</c>, that let a prompt resume after a cached prefix;
    /// <c>0</c> turns prefix caching off for them; empty: 512 MiB.
    /// </summary>
    public string? StateCacheMemory { get; set; }

    /// <summary>Tokens one batching step may run: decode tokens of every running sequence plus prompt chunks.</summary>
    public int MaxBatchTokens { get; set; } = 256;

    /// <summary>Sequences the batching engine runs at once.</summary>
    public int MaxRunningSequences { get; set; } = 32;

    /// <summary>
    /// Milliseconds an idle engine waits for the rest of a burst of requests before its first step (it starts sooner once
    /// nothing has arrived for a fifth of it); null: 5 % of a typical step, at most 2 ms; 0: none.
    /// </summary>
    public double? BurstGatherMs { get; set; }

    /// <summary>Share cached KV blocks between requests with the same prompt prefix.</summary>
    public bool PrefixCaching { get; set; } = true;

    /// <summary>
    /// Models with sliding-window layers (gemma3, gemma4, gpt-oss): keep those layers' keys and values apart and free them once the
    /// window has passed (<c>TokenFactory:SlidingWindowCache</c>; default on).
    /// </summary>
    public bool SlidingWindowCache { get; set; } = true;

    /// <summary>A Jinja chat template file used instead of the model's own (<c>serve --chat-template-file</c>).</summary>
    public string? ChatTemplateFile { get; set; }

    /// <summary>
    /// How /v1/embeddings pools a sequence (<c>mean</c>, <c>cls</c>, <c>last</c>; <c>serve --pooling</c>): replaces the file's
    /// <c>{arch}.pooling_type</c>, and gives a generative model without one embeddings. Empty: the file's own, if any.
    /// </summary>
    public string? Pooling { get; set; }

    /// <summary>
    /// The model is a Matryoshka embedder (its leading dimensions are an embedding themselves: Qwen3-Embedding, nomic-embed
    /// v1.5): /v1/embeddings honours <c>dimensions</c> by keeping that many and renormalizing (<c>serve --matryoshka</c>).
    /// Otherwise a <c>dimensions</c> other than the model's own is refused.
    /// </summary>
    public bool Matryoshka { get; set; }

    /// <summary>
    /// The kernels' settings (<c>TokenFactory:Kernels:*</c>), applied once before the model loads and logged; see
    /// docs/server.md. Fixed for the process once a kernel has run.
    /// </summary>
    public KernelOptions Kernels { get; set; } = new();

    /// <summary>
    /// A streamed answer with nothing to send for this long (a long prompt's prefill, a wait in the queue, a preempted
    /// sequence) gets an SSE comment, which clients ignore and proxies count as traffic, so their idle timeouts (nginx 60 s,
    /// load balancers 60-100 s) do not cut it. The first one sends the headers, so errors after it come as error events.
    /// 0 turns them off.
    /// </summary>
    public double StreamKeepAliveSeconds { get; set; } = 15;

    /// <summary>The keep-alive interval a setting gives: off (zero) for 0, and for anything not a number of seconds up to a day.</summary>
    public static TimeSpan KeepAliveInterval(double seconds) =>
        double.IsFinite(seconds) && seconds > 0 && seconds <= 86_400 ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;

    /// <summary>On SIGTERM/Ctrl-C, how long in-flight requests may run before they are cancelled.</summary>
    public double ShutdownTimeoutSeconds { get; set; } = 10;

    /// <summary>Which web pages may call the API from a browser (none by default).</summary>
    public CorsSettings Cors { get; set; } = new();

    /// <summary>
    /// Addresses of reverse proxies whose <c>X-Forwarded-For</c>, <c>-Proto</c> and <c>-Host</c> are believed (a proxy that
    /// terminates TLS): the request is then the client's, over https, to the public name, so the command center's session
    /// cookie is <c>Secure</c>, its own pages pass the origin check, and rate limits and fair sharing see the real client.
    /// None by default: any process on a trusted address can claim these headers (a browser on the proxy's host too), so
    /// only the proxies actually in front of the server are named.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>This server as a replica behind a fleet's router (<c>TokenFactory:Fleet:*</c>).</summary>
    public FleetSettings Fleet { get; set; } = new();
}

public sealed class FleetSettings
{
    /// <summary>
    /// The secret the fleet's router sends (<c>Authorization: Bearer …</c>); <c>TOKENFACTORY_INTERNAL_TOKEN</c> for
    /// <c>tokenfactory serve</c>. When set, every request except <c>GET /health</c> must carry it (401
    /// <c>invalid_internal_token</c> otherwise) and is the router's: it is not admitted on this server's floor. Empty: no router.
    /// </summary>
    public string? InternalToken { get; set; }

    public bool IsReplica => !string.IsNullOrEmpty(InternalToken);
}

public sealed class CorsSettings
{
    /// <summary>
    /// Origins (<c>https://app.example.com</c>) whose pages may call the API from a browser; <c>*</c> allows
    /// every origin (never with a server others can reach without keys). Empty: only the server's own pages.
    /// </summary>
    public string[] AllowedOrigins { get; set; } = [];
}
