using Microsoft.Extensions.Options;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Routing;
using TokenFactory.Router.Telemetry;
using TokenFactory.Server.Api;

namespace TokenFactory.Router.Admission;

/// <summary>
/// Where requests wait for a replica, earliest deadline first. A request goes out at once when a replica serving its
/// model has room (its running slots plus a shallow queue, <see cref="RouterOptions.ReplicaQueueDepth"/>); otherwise it
/// waits here, where an interactive request's near deadline puts it ahead of batch work queued before it, rather than
/// in a replica's first-come queue. When several replicas have room the routing policy picks one.
/// </summary>
public sealed class Dispatcher(ReplicaSet replicas, IRoutingPolicy policy, IOptions<RouterOptions> options, RouterMetrics metrics)
{
    private readonly Lock _lock = new();
    private readonly PriorityQueue<Waiter, (long Deadline, long Order)> _queue = new();
    private long _order;

    public IRoutingPolicy Policy => policy;

    /// <summary>Requests waiting here now.</summary>
    public int Queued
    {
        get
        {
            lock (_lock)
                return _queue.Count;
        }
    }

    /// <summary>
    /// A replica for <paramref name="request"/>, now or once one has room.
    /// </summary>
    /// <param name="exclude">A replica already tried (failover goes elsewhere).</param>
    /// <exception cref="OpenAiException">503: no replica serving the model is up, or too many requests wait already.</exception>
    public async Task<Lease> AcquireAsync(RouteRequest request, Replica? exclude, CancellationToken cancellation)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (Candidates(request, exclude).Count == 0)
                throw NoReplica(request.Model);
            if (_queue.Count == 0 && TryPlace(request, exclude) is { } lease)
                return lease;
            if (_queue.Count >= options.Value.MaxQueuedRequests)
                throw new OpenAiException(503, $"The fleet is overloaded: {_queue.Count} requests are already waiting for a replica.", OpenAiErrorTypes.Unavailable,
                    code: "server_overloaded") { RetryAfterSeconds = 1 };
            waiter = new Waiter(request, exclude);
            _queue.Enqueue(waiter, (request.DeadlineTimestamp, _order++));
            metrics.Queued(request.Priority, +1);
        }
        // What waits ahead of it may be for another model, or gone: it may fit now.
        Wake();
        using (cancellation.Register(() => Cancel(waiter)))
        {
            try
            {
                return await waiter.Placed.Task.ConfigureAwait(false);
            }
            finally
            {
                metrics.Queued(request.Priority, -1);
            }
        }
    }

    /// <summary>
    /// The time to first token a request would see now: the least, over the replicas that may serve it, of the prompt
    /// work queued there ahead of it (of its class or above: a replica runs higher classes first) and at the router
    /// ahead of it (earlier deadlines), plus its own (less what the replica holds), at the replica's measured prefill speed.
    /// </summary>
    public TimeSpan PredictTtft(RouteRequest request)
    {
        long aheadHere;
        lock (_lock)
            aheadHere = _queue.UnorderedItems.Where(w => w.Element.Request.Model == request.Model && w.Priority.Deadline <= request.DeadlineTimestamp)
                .Sum(w => w.Element.Request.Shape.Tokens);
        var candidates = replicas.Candidates(request.Model);
        if (candidates.Count == 0)
            return TimeSpan.MaxValue;
        double best = double.MaxValue;
        foreach (var r in candidates)
        {
            double tokens = r.QueuedPrefillTokens * r.QueuedShareAhead(request.Priority) + (double)aheadHere / candidates.Count
                + request.NewPrefillTokens(r.Index.MatchedBlocks(request.Shape.Blocks));
            best = Math.Min(best, tokens / r.PrefillTokensPerSecond);
        }
        return TimeSpan.FromSeconds(best);
    }

    /// <summary>Room may have opened (a request ended, a status arrived): place what waits, earliest deadline first.</summary>
    public void Wake()
    {
        List<(Waiter Waiter, Lease Lease)> placed = [];
        lock (_lock)
        {
            var blocked = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var kept = new List<(Waiter, (long, long))>();
            while (_queue.TryDequeue(out var waiter, out var priority))
            {
                if (waiter.Placed.Task.IsCompleted)
                    continue; // cancelled while it waited
                if (!blocked.Contains(waiter.Request.Model))
                {
                    if (Candidates(waiter.Request, waiter.Exclude).Count == 0)
                    {
                        waiter.Placed.TrySetException(NoReplica(waiter.Request.Model));
                        continue;
                    }
                    if (TryPlace(waiter.Request, waiter.Exclude) is { } lease)
                    {
                        placed.Add((waiter, lease));
                        continue;
                    }
                    // Later deadlines of this model must not overtake it (unless it waits for one replica in particular,
                    // being kept off the one that failed it).
                    if (waiter.Exclude is null)
                        blocked.Add(waiter.Request.Model);
                }
                kept.Add((waiter, priority));
            }
            foreach (var (waiter, priority) in kept)
                _queue.Enqueue(waiter, priority);
        }
        foreach (var (waiter, lease) in placed)
        {
            if (!waiter.Placed.TrySetResult(lease))
                lease.Dispose(); // its caller left in the meantime
        }
    }

    private List<Replica> Candidates(RouteRequest request, Replica? exclude)
    {
        var candidates = replicas.Candidates(request.Model);
        if (exclude is not null && candidates.Count > 1)
            candidates.Remove(exclude);
        return candidates;
    }

    private Lease? TryPlace(RouteRequest request, Replica? exclude)
    {
        int depth = Math.Max(0, options.Value.ReplicaQueueDepth);
        var withRoom = Candidates(request, exclude).Where(r => r.HasRoomFor(request.Sequences, depth)).ToList();
        if (withRoom.Count == 0)
            return null;
        var replica = policy.Choose(request, withRoom);
        int matched = replica.Index.MatchedBlocks(request.Shape.Blocks);
        long prefill = request.NewPrefillTokens(matched);
        replica.Index.Add(request.Shape.Blocks);
        replica.Begin(request.Sequences, prefill, request.Priority);
        metrics.Routed(replica, request, matched);
        return new Lease(this, replica, request.Sequences, prefill, matched, request.Priority);
    }

    /// <summary>The caller left: out of the queue now (it no longer counts toward the limit or anyone's predicted wait).</summary>
    private void Cancel(Waiter waiter)
    {
        if (!waiter.Placed.TrySetCanceled())
            return;
        lock (_lock)
            _queue.Remove(waiter, out _, out _);
    }

    private void Release(Lease lease)
    {
        lease.Replica.End(lease.Sequences, lease.PrefillTokens, lease.Priority);
        Wake();
    }

    private static OpenAiException NoReplica(string model) =>
        new(503, $"No replica serving '{model}' is up; retry shortly.", OpenAiErrorTypes.Unavailable, code: "no_replica_available") { RetryAfterSeconds = 1 };

    private sealed class Waiter(RouteRequest request, Replica? exclude)
    {
        public RouteRequest Request { get; } = request;
        public Replica? Exclude { get; } = exclude;
        public TaskCompletionSource<Lease> Placed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A request's place on a replica: released (once) when the request ends there.</summary>
    public sealed class Lease(Dispatcher dispatcher, Replica replica, int sequences, long prefillTokens, int matchedBlocks, string priority) : IDisposable
    {
        private int _released;

        public Replica Replica { get; } = replica;
        public int Sequences { get; } = sequences;
        public long PrefillTokens { get; } = prefillTokens;
        /// <summary>Prompt blocks the replica was believed to hold when the request was sent (the routed prefix hit).</summary>
        public int MatchedBlocks { get; } = matchedBlocks;
        public string Priority { get; } = priority;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                dispatcher.Release(this);
        }
    }
}
