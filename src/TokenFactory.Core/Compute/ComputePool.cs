using System.Runtime.ExceptionServices;

namespace TokenFactory.Compute;

/// <summary>A piece of work split across the pool's threads; implementations are reused objects so a step allocates nothing.</summary>
public interface IParallelWork
{
    /// <summary>Runs this thread's share; <paramref name="thread"/> is in [0, <paramref name="threadCount"/>).</summary>
    void Execute(int thread, int threadCount);
}

/// <summary>
/// Persistent worker threads for the forward pass. Workers spin briefly on their wake-up event before
/// blocking (ManualResetEventSlim's spin phase), because a decode step issues hundreds of short
/// parallel sections and an OS wake-up per section would cost more than the work on small models.
/// The calling thread does share 0 itself.
/// </summary>
public sealed class ComputePool : IDisposable
{
    private readonly Worker[] _workers;
    private IParallelWork? _work;
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
        foreach (var w in _workers)
            w.Wake.Set();
        try
        {
            work.Execute(0, ThreadCount);
        }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0)
                spin.SpinOnce(sleep1Threshold: -1);
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
        foreach (var w in _workers)
            w.Wake.Set();
        foreach (var w in _workers)
            w.Thread.Join();
    }

    private sealed class Worker
    {
        // About 20 µs of spinning on this machine: long enough to bridge consecutive matmuls in a decode step.
        private const int SpinCount = 2000;

        public readonly ManualResetEventSlim Wake = new(false, SpinCount);
        public readonly Thread Thread;
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
            while (true)
            {
                Wake.Wait();
                Wake.Reset();
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
    }
}
