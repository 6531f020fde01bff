using TokenFactory.Compute;

namespace TokenFactory.Tests.Compute;

public sealed class GroupRangesTests
{
    [Fact]
    public void Each_thread_starts_on_its_own_contiguous_share_in_steps()
    {
        var ranges = new GroupRanges(2);
        ranges.Reset(100, 2, 8);
        Assert.True(ranges.Take(0, out int b, out int e));
        Assert.Equal((0, 8), (b, e));
        Assert.True(ranges.Take(0, out b, out e));
        Assert.Equal((8, 16), (b, e));
        Assert.True(ranges.Take(1, out b, out e));
        Assert.Equal((50, 58), (b, e));
    }

    [Fact]
    public void A_thread_that_never_comes_has_its_range_taken_by_the_others()
    {
        var ranges = new GroupRanges(3);
        ranges.Reset(90, 3, 4);
        var seen = new List<int>();
        while (ranges.Take(0, out int b, out int e))
        {
            Assert.InRange(e - b, 1, 4);
            for (int g = b; g < e; g++)
                seen.Add(g);
        }
        Assert.Equal(Enumerable.Range(0, 90), seen.Order());
        Assert.False(ranges.Take(2, out _, out _));
    }

    [Fact]
    public void A_steal_takes_the_back_half_and_leaves_the_owner_the_front()
    {
        var ranges = new GroupRanges(2);
        ranges.Reset(64, 2, 2);
        for (int i = 0; i < 16; i++)
            Assert.True(ranges.Take(0, out _, out _)); // thread 0's [0, 32)
        // Thread 1 has not started: thread 0 steals [48, 64) and goes on from 48.
        Assert.True(ranges.Take(0, out int b, out int e));
        Assert.Equal((48, 50), (b, e));
        Assert.True(ranges.Take(1, out int b1, out int e1));
        Assert.Equal((32, 34), (b1, e1));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 2, 1)]
    [InlineData(1000, 2, 7)]
    [InlineData(4099, 4, 3)]
    public void Concurrent_threads_get_every_group_exactly_once(int groups, int threads, int step)
    {
        var ranges = new GroupRanges(threads);
        for (int round = 0; round < 20; round++)
        {
            ranges.Reset(groups, threads, step);
            var counts = new int[groups];
            int oversized = 0;
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var rng = new Random(t * 31 + round);
                while (ranges.Take(t, out int b, out int e))
                {
                    if (e - b < 1 || e - b > step)
                        Interlocked.Increment(ref oversized); // asserted on the test thread: a throw here would kill the host
                    for (int g = b; g < e; g++)
                        Interlocked.Increment(ref counts[g]);
                    if (rng.Next(4) == 0)
                        Thread.SpinWait(rng.Next(2000)); // one thread falls behind now and then, so the others steal
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            Assert.Equal(0, oversized);
            Assert.All(counts, c => Assert.Equal(1, c));
        }
    }
}
