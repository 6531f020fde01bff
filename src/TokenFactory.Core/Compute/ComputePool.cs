using System.Runtime.ExceptionServices;

namespace TokenFactory.Compute;

/// <summary>A piece of work split across the pool's threads; implementations are reused objects so a step allocates nothing.</summary>
public interface IParallelWork
{
    /// <summary>Runs this thread's share; <paramref name="thread"/> is in [0, <paramref name="threadCount"/>).</summary>
    void Execute(int thread, int threadCount);
}

/// <summary>
/// Persistent worker threads for the forward pass. A decode step issues a hundred or more short parallel sections, so
/// handing one over must cost far less than an OS wake-up: <see cref="Run"/> bumps a section counter that idle workers
/// spin on (pause instructions only) for about <see cref="SpinMicroseconds"/> before they block on an event, and the
/// calling thread, which does share 0 itself, spins the same way for the workers to finish. Neither side yields to
/// the scheduler while it spins: on a 2-core machine a <c>sched_yield</c> per wait (what <see cref="SpinWait"/> and
/// <see cref="ManualResetEventSlim"/> do while spinning) showed up as 2-4 % of a decode profile.
/// </summary>
public sealed class ComputePool : IDisposable
{
    /// <summary>How long an idle worker spins for the next section before it blocks (bridges the gaps inside a decode step).</summary>
    public const int SpinMicroseconds = 50;

    private static readonly long SpinTicks = Math.Max(1, System.Diagnostics.Stopwatch.Frequency * SpinMicroseconds / 1_000_000);

    private readonly Worker[] _workers;
    private IParallelWork? _work;
    private long _section;
    private int _pending;
    private ExceptionDispatchInfo? _failure;
    private volatile bool _disposed;

    public ComputePool(int threadCount)
    {
        ThreadCount = Math.Max(1, threadCount);
        _workers = new Worker[ThreadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
            _workers[i] = new Worker(this, i + 1);
    }

    public int ThreadCount { get; }

    public static int DefaultThreadCount => Environment.ProcessorCount;

    public void Run(IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_workers.Length == 0)
        {
            work.Execute(0, 1);
            return;
        }
        _work = work;
        Volatile.Write(ref _pending, _workers.Length);
        Interlocked.Increment(ref _section); // a full fence: publishes the work before any worker sees the section
        foreach (var w in _workers)
            if (Volatile.Read(ref w.Sleeping))
                w.Wake.Set();
        try
        {
            work.Execute(0, ThreadCount);
        }
        finally
        {
            // Pause-only spinning while the workers finish; past the spin budget (a worker descheduled, or more pool
            // threads than cores) yield instead, so a waiting caller does not hold a core a worker needs.
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int polls = 1; Volatile.Read(ref _pending) != 0; polls++)
            {
                if (polls % 64 == 0 && System.Diagnostics.Stopwatch.GetTimestamp() - start > SpinTicks)
                    Thread.Yield();
                else
                    Thread.SpinWait(1);
            }
            _work = null;
        }
        var failure = Interlocked.Exchange(ref _failure, null);
        failure?.Throw();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Interlocked.Increment(ref _section);
        foreach (var w in _workers)
            w.Wake.Set();
        foreach (var w in _workers)
            w.Thread.Join();
    }

    private sealed class Worker
    {
        public readonly ManualResetEventSlim Wake = new(false, 0);
        public readonly Thread Thread;
        public bool Sleeping;
        private readonly ComputePool _pool;
        private readonly int _index;

        public Worker(ComputePool pool, int index)
        {
            _pool = pool;
            _index = index;
            Thread = new Thread(Loop) { IsBackground = true, Name = $"tokenfactory-compute-{index}" };
            Thread.Start();
        }

        private void Loop()
        {
            // Sections are counted from 0, and this thread may start after Run has already counted the first one.
            long seen = 0;
            while (true)
            {
                seen = WaitForSection(seen);
                if (_pool._disposed)
                    return;
                try
                {
                    _pool._work?.Execute(_index, _pool.ThreadCount);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _pool._failure, ExceptionDispatchInfo.Capture(e), null);
                }
                finally
                {
                    Interlocked.Decrement(ref _pool._pending);
                }
            }
        }

        /// <summary>Spins until the section counter passes <paramref name="seen"/>, blocking once the spin budget is spent.</summary>
        private long WaitForSection(long seen)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp(), now;
            int polls = 0;
            while (true)
            {
                if ((now = Volatile.Read(ref _pool._section)) != seen)
                    return now;
                Thread.SpinWait(1);
                if (++polls % 64 != 0 || System.Diagnostics.Stopwatch.GetTimestamp() - start < SpinTicks)
                    continue;
                // Block. Sleeping is written before the counter is read again, and Run writes the counter before it
                // reads Sleeping (both with full fences), so at least one side sees the other: no wake-up is lost.
                Wake.Reset();
                Interlocked.Exchange(ref Sleeping, true);
                if (Volatile.Read(ref _pool._section) == seen)
                    Wake.Wait();
                Volatile.Write(ref Sleeping, false);
                start = System.Diagnostics.Stopwatch.GetTimestamp();
            }
        }
    }
}
