using TokenFactory.Compute;

namespace TokenFactory.Tests.Compute;

public sealed class ComputePoolTests
{
    private sealed class CountingWork(int threads) : IParallelWork
    {
        public readonly int[] Calls = new int[threads];
        public int Seen = -1;

        public void Execute(int thread, int threadCount)
        {
            Seen = threadCount;
            Interlocked.Increment(ref Calls[thread]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Every_section_runs_each_share_exactly_once(int threads)
    {
        using var pool = new ComputePool(threads);
        var work = new CountingWork(threads);
        for (int i = 0; i < 5000; i++)
            pool.Run(work);
        Assert.All(work.Calls, c => Assert.Equal(5000, c));
        Assert.Equal(threads, work.Seen);
    }

    [Fact]
    public void A_section_after_the_workers_went_to_sleep_still_runs_on_all_threads()
    {
        using var pool = new ComputePool(3);
        var work = new CountingWork(3);
        for (int i = 0; i < 20; i++)
        {
            pool.Run(work);
            // Far past the workers' spin phase (about 20 µs), so they block and need the event.
            Thread.Sleep(5);
        }
        Assert.All(work.Calls, c => Assert.Equal(20, c));
    }

    private sealed class ThrowingWork : IParallelWork
    {
        public void Execute(int thread, int threadCount)
        {
            if (thread == threadCount - 1)
                throw new InvalidOperationException("worker failed");
        }
    }

    [Fact]
    public void A_worker_exception_reaches_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new ComputePool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new ThrowingWork()));
        Assert.Equal("worker failed", e.Message);
        var work = new CountingWork(2);
        pool.Run(work);
        Assert.Equal([1, 1], work.Calls);
    }

    [Fact]
    public void Dispose_returns_with_workers_spinning_or_asleep_and_later_runs_are_refused()
    {
        var spinning = new ComputePool(2);
        spinning.Run(new CountingWork(2));
        spinning.Dispose();
        var asleep = new ComputePool(2);
        asleep.Run(new CountingWork(2));
        Thread.Sleep(20);
        asleep.Dispose();
        Assert.Throws<ObjectDisposedException>(() => asleep.Run(new CountingWork(2)));
    }
}
