namespace TokenFactory.Engine.Batching;

/// <summary>
/// The bounded wait queue of <see cref="BatchingEngine"/>, counted in requests (groups of choices), not sequences:
/// a request with n choices shares one prompt and waits as one. When it is full, a new request is refused unless
/// another tenant holds more of the queue than the newcomer's tenant does; then that tenant's newest waiting
/// request gives up its place (longest-queue drop, as fair queueing does), so one caller flooding the queue cannot
/// lock the others out. Any thread.
/// </summary>
public sealed class WaitQueue(int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Tenant> _tenants = new(StringComparer.Ordinal);
    private int _count;

    public int Capacity { get; } = capacity;

    /// <summary>Requests waiting now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _count;
        }
    }

    /// <summary>Queues a request of <paramref name="tenantName"/>, making room as described above.</summary>
    /// <param name="priority">The request's class; it orders admission, not who gives way in a full queue.</param>
    /// <exception cref="EngineOverloadedException">The queue is full and the newcomer's tenant holds as much of it as any.</exception>
    public SequenceGroup Enqueue(string tenantName, PriorityClass priority = PriorityClass.Standard)
    {
        lock (_lock)
        {
            if (!_tenants.TryGetValue(tenantName, out var tenant))
            {
                if (_tenants.Count >= MaxIdleTenants)
                    ForgetIdleTenants();
                _tenants[tenantName] = tenant = new Tenant(tenantName);
            }
            while (_count >= Capacity)
            {
                Tenant? heaviest = null;
                foreach (var t in _tenants.Values)
                {
                    if (heaviest is null || t.Waiting.Count > heaviest.Waiting.Count)
                        heaviest = t;
                }
                if (heaviest is null || heaviest.Waiting.Count <= tenant.Waiting.Count)
                    throw new EngineOverloadedException(_count, Capacity);
                var victim = heaviest.Waiting[^1];
                heaviest.Waiting.RemoveAt(heaviest.Waiting.Count - 1);
                _count--;
                // Lost the race with the engine starting it? Then it no longer waited anyway: the room is real.
                victim.TryDisplace(new EngineOverloadedException(_count, Capacity, displaced: true));
            }
            var group = new SequenceGroup(tenant, this, priority);
            tenant.Waiting.Add(group);
            _count++;
            return group;
        }
    }

    /// <summary>The group started, or ended while waiting: it no longer counts.</summary>
    internal void Leave(SequenceGroup group)
    {
        lock (_lock)
        {
            if (group.Tenant.Waiting.Remove(group))
                _count--;
        }
    }

    /// <summary>Tenants kept before idle ones (nothing waiting, nothing running or preempted) are forgotten.</summary>
    private const int MaxIdleTenants = 1024;

    /// <summary>
    /// The table would otherwise grow with every caller ever seen. A tenant is kept while it has anything waiting
    /// or running (a preempted sequence too: it runs again under the same tenant), so its running count, which orders the
    /// queue, is never reset while it matters.
    /// </summary>
    private void ForgetIdleTenants()
    {
        foreach (var (name, t) in _tenants.ToList())
        {
            if (t.Waiting.Count == 0 && t.Holding == 0)
                _tenants.Remove(name);
        }
    }
}
