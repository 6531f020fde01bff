namespace TokenFactory.Engine.Batching;

/// <summary>
/// The sequences of one request (its choices), which start, wait and are counted together. A group waits until
/// its first sequence is admitted; while it waits it can be displaced (<see cref="WaitQueue"/>), which fails all
/// its sequences. Its first admitted sequence leads the prompt: with prefix caching the others wait until the
/// leader's full prompt blocks are in the cache, then share them, so the prompt is computed once, not n times.
/// </summary>
public sealed class SequenceGroup
{
    private const int Waiting = 0, Started = 1, Displaced = 2, Ended = 3;

    private readonly WaitQueue? _queue;
    private int _state;

    internal SequenceGroup(Tenant tenant, WaitQueue? queue, PriorityClass priority)
    {
        Tenant = tenant;
        _queue = queue;
        Priority = priority;
    }

    /// <summary>A group of one sequence outside any wait queue (the engine driven directly: benchmarks, tests).</summary>
    public static SequenceGroup Single(Tenant tenant, PriorityClass priority = PriorityClass.Standard) => new(tenant, null, priority);

    public Tenant Tenant { get; }

    /// <summary>The request's class, shared by its choices (<see cref="PriorityClass"/>).</summary>
    public PriorityClass Priority { get; }

    /// <summary>The sequence whose prompt the others share, once one was admitted. Engine thread only.</summary>
    public Sequence? Leader { get; internal set; }

    public bool IsDisplaced => Volatile.Read(ref _state) == Displaced;

    /// <summary>
    /// A sequence ended before any was admitted, so the request no longer waits (<see cref="EndWaiting"/>): its other
    /// choices will never start either and leave as cancelled (left waiting, the scheduler would pick them forever).
    /// </summary>
    public bool HasEndedWaiting => Volatile.Read(ref _state) == Ended;

    /// <summary>Why a displaced group did not run.</summary>
    public EngineOverloadedException? Rejection { get; private set; }

    /// <summary>Its first sequence is being admitted; false when it was displaced first. Engine thread.</summary>
    internal bool TryStart()
    {
        int was = Interlocked.CompareExchange(ref _state, Started, Waiting);
        if (was == Waiting)
            _queue?.Leave(this);
        return was is Waiting or Started;
    }

    /// <summary>A sequence ended before any was admitted (cancelled while waiting): the request no longer waits.</summary>
    internal void EndWaiting()
    {
        if (Interlocked.CompareExchange(ref _state, Ended, Waiting) == Waiting)
            _queue?.Leave(this);
    }

    /// <summary>Called by the wait queue under its lock: false when the engine started the group first.</summary>
    internal bool TryDisplace(EngineOverloadedException rejection)
    {
        Rejection = rejection;
        return Interlocked.CompareExchange(ref _state, Displaced, Waiting) == Waiting;
    }
}

/// <summary>A caller the engine shares itself between: its requests waiting and its sequences running.</summary>
public sealed class Tenant(string name)
{
    public string Name { get; } = name;

    /// <summary>Its sequences running now. Engine thread only (others may read a stale value).</summary>
    public int Running { get; internal set; }

    /// <summary>
    /// Its sequences admitted and not yet ended: running, or preempted and waiting to be recomputed (which <see cref="Running"/>
    /// leaves out). Read by the wait queue on callers' threads.
    /// </summary>
    public int Holding => Volatile.Read(ref _holding);

    private int _holding;

    internal void Hold() => Interlocked.Increment(ref _holding);

    internal void Release() => Interlocked.Decrement(ref _holding);

    /// <summary>Its requests waiting, oldest first. Under the wait queue's lock.</summary>
    internal List<SequenceGroup> Waiting { get; } = [];
}
