using TokenFactory.Floor.Identity;
using TokenFactory.Router.Routing;

namespace TokenFactory.Router.Replicas;

/// <summary>
/// One upstream server: where it is, what it serves, its latest reported load, what the router believes its prefix
/// cache holds, and what the router has in flight there (known at once, before any status poll reports it).
/// </summary>
public sealed class Replica
{
    private readonly Lock _lock = new();
    private HashSet<string> _models = new(StringComparer.OrdinalIgnoreCase);
    private int _inFlightSequences;
    private readonly long[] _inFlightPrefillByClass = new long[3]; // by PriorityClasses.Rank: interactive, standard, batch
    private long _sentSinceStatus;

    public Replica(string id, Uri url, int defaultMaxRunning)
    {
        Id = id;
        Url = url;
        Name = url.Authority;
        Prefix = url.ToString().TrimEnd('/');
        DefaultMaxRunning = defaultMaxRunning;
        Index = new PrefixIndex(4096);
    }

    /// <summary>Its destination id in YARP's cluster.</summary>
    public string Id { get; }
    public Uri Url { get; }
    /// <summary>The URL as YARP takes a destination prefix: without the trailing slash (it appends the request's path).</summary>
    public string Prefix { get; }
    /// <summary>How it is named in the <c>x-tokenfactory-replica</c> header, the ledger and metrics: host:port.</summary>
    public string Name { get; }
    public int DefaultMaxRunning { get; }
    public PrefixIndex Index { get; }

    /// <summary>The latest <c>/internal/status</c>; null for a server that has none (or has not answered yet).</summary>
    public ReplicaStatus? Status { get; private set; }
    public DateTimeOffset? StatusAt { get; private set; }
    /// <summary>Whether the status endpoint ever answered: a TokenFactory replica, not a third-party server.</summary>
    public bool ReportsStatus { get; private set; }

    /// <summary>
    /// False while the status poller cannot reach it (refused, reset, a wrong internal token). YARP's passive mark
    /// lapses after its reactivation period and would let such a replica back in between two polls; this does not.
    /// </summary>
    public bool Reachable
    {
        get => Volatile.Read(ref _reachable);
        set => Volatile.Write(ref _reachable, value);
    }

    private bool _reachable = true;

    /// <summary>
    /// Cancelled when the status poller ejects it as unresponsive (frozen, partitioned): every request on it stops
    /// waiting. It stays cancelled while it is out (a request that still reaches it stops at once), and a fresh one is
    /// made when it answers again.
    /// </summary>
    public CancellationToken Unresponsive => Volatile.Read(ref _unresponsive).Token;

    private CancellationTokenSource _unresponsive = new();

    /// <summary>Ejected as unresponsive: what is in flight there is cancelled (retried elsewhere, or its stream cut).</summary>
    public void Eject() => Volatile.Read(ref _unresponsive).Cancel();

    /// <summary>It answers again: requests sent from now on are not cancelled by its earlier ejection.</summary>
    public void Answering()
    {
        var current = Volatile.Read(ref _unresponsive);
        if (current.IsCancellationRequested)
            Interlocked.CompareExchange(ref _unresponsive, new CancellationTokenSource(), current); // the old one is never disposed: requests may still hold its token
    }

    /// <summary>When (<see cref="TimeProvider.GetTimestamp"/>) a piece of an answer last came from it: 0 before any.</summary>
    public long LastProgress => Interlocked.Read(ref _lastProgress);

    private long _lastProgress;

    public void Progressed(long timestamp) => Interlocked.Exchange(ref _lastProgress, timestamp);

    public bool IsDraining => Status is { Draining: true } or { State: "draining" };

    public int MaxRunning => Status is { MaxRunning: > 0 } s ? s.MaxRunning : DefaultMaxRunning;

    public int ContextLength(int fallback) => Status is { ContextLength: > 0 } s ? s.ContextLength : fallback;

    /// <summary>Prefill speed as measured by the replica, or a cautious guess until it has measured one.</summary>
    public double PrefillTokensPerSecond => Status is { PrefillTokensPerSecond: > 0 } s ? s.PrefillTokensPerSecond : 1000;

    public IReadOnlySet<string> Models
    {
        get
        {
            lock (_lock)
                return _models;
        }
    }

    public int InFlightSequences => Volatile.Read(ref _inFlightSequences);

    /// <summary>
    /// Prompt tokens queued there: what the replica last reported still to compute, plus what the router sent since
    /// (the report does not include it yet); for a server without a report, all the prompt work in flight there.
    /// </summary>
    public long QueuedPrefillTokens => Status is { } s
        ? s.PendingPrefillTokens + Interlocked.Read(ref _sentSinceStatus)
        : InFlightPrefillTokens;

    /// <summary>Prompt tokens of the requests in flight there, all classes together.</summary>
    public long InFlightPrefillTokens => Interlocked.Read(ref _inFlightPrefillByClass[0]) + Interlocked.Read(ref _inFlightPrefillByClass[1]) + Interlocked.Read(ref _inFlightPrefillByClass[2]);

    /// <summary>
    /// The share of the prompt work queued there that a request of <paramref name="priority"/> waits behind: the replica
    /// runs higher classes first, so only what the router sent of this class or above counts (all of it when the router
    /// has sent nothing, or the replica does not report classes' work apart).
    /// </summary>
    public double QueuedShareAhead(string priority)
    {
        long all = InFlightPrefillTokens;
        if (all <= 0)
            return 1;
        long ahead = 0;
        for (int rank = 0; rank <= PriorityClasses.Rank(priority); rank++)
            ahead += Interlocked.Read(ref _inFlightPrefillByClass[rank]);
        return Math.Clamp((double)ahead / all, 0, 1);
    }

    public bool Serves(string model)
    {
        lock (_lock)
            return _models.Contains(model);
    }

    public void SetModels(IEnumerable<string> models)
    {
        var set = new HashSet<string>(models, StringComparer.OrdinalIgnoreCase);
        lock (_lock)
            _models = set;
    }

    public void SetStatus(ReplicaStatus status, DateTimeOffset at)
    {
        Status = status;
        StatusAt = at;
        Interlocked.Exchange(ref _sentSinceStatus, 0); // the replica now counts what was sent before in its own pending prefill
        ReportsStatus = true;
        if (status.KvBlocksTotal > 0)
            Index.Capacity = (int)Math.Min(int.MaxValue, status.KvBlocksTotal);
        if (status.Model is { Length: > 0 } model)
            SetModels([model]);
    }

    public void ClearStatus() => Status = null;

    /// <summary>A request of <paramref name="sequences"/> choices and <paramref name="prefillTokens"/> new prompt tokens was sent there.</summary>
    public void Begin(int sequences, long prefillTokens, string priority)
    {
        Interlocked.Add(ref _inFlightPrefillByClass[PriorityClasses.Rank(priority)], prefillTokens);
        Interlocked.Add(ref _inFlightSequences, sequences);
        Interlocked.Add(ref _sentSinceStatus, prefillTokens);
    }

    /// <summary>It ended there: its prompt is no longer queued, whether or not a status said so yet.</summary>
    public void End(int sequences, long prefillTokens, string priority)
    {
        Interlocked.Add(ref _inFlightPrefillByClass[PriorityClasses.Rank(priority)], -prefillTokens);
        Interlocked.Add(ref _inFlightSequences, -sequences);
        // Never below zero: a status that arrived meanwhile already counted it out.
        long seen, left;
        do
        {
            seen = Interlocked.Read(ref _sentSinceStatus);
            left = Math.Max(0, seen - prefillTokens);
        }
        while (Interlocked.CompareExchange(ref _sentSinceStatus, left, seen) != seen);
    }

    /// <summary>Whether the router may send it <paramref name="sequences"/> more now: its slots plus a shallow queue.</summary>
    public bool HasRoomFor(int sequences, int queueDepth) => InFlightSequences == 0 || InFlightSequences + sequences <= MaxRunning + queueDepth;
}
