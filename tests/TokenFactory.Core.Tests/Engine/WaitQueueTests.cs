using TokenFactory.Engine;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Tests.Engine;

/// <summary>The engine's wait queue: counted in requests, bounded, and fair when full (the tenant holding the most gives way).</summary>
public sealed class WaitQueueTests
{
    [Fact]
    public void A_full_queue_makes_room_by_displacing_the_newest_request_of_the_tenant_holding_the_most()
    {
        var queue = new WaitQueue(4);
        var a = Enumerable.Range(0, 4).Select(_ => queue.Enqueue("a")).ToList();
        Assert.Equal(4, queue.Count);

        var b1 = queue.Enqueue("b"); // a holds 4, b none: a's newest gives way
        Assert.True(a[3].IsDisplaced);
        Assert.True(a[3].Rejection!.Displaced);
        Assert.False(a[2].IsDisplaced);
        Assert.Equal(4, queue.Count);

        // a still holds the most (3 against 1): a newcomer of a's is refused, a newcomer of b's displaces a again.
        var refused = Assert.Throws<EngineOverloadedException>(() => queue.Enqueue("a"));
        Assert.False(refused.Displaced);
        Assert.Equal((4, 4), (refused.Waiting, refused.Capacity));
        queue.Enqueue("b");
        Assert.True(a[2].IsDisplaced);

        // Two each: nobody holds more than b, so b's next is refused, and so is a third tenant's... until one leaves.
        Assert.Throws<EngineOverloadedException>(() => queue.Enqueue("b"));
        var c = queue.Enqueue("c"); // c holds none, a and b two each: one of them gives way
        Assert.Equal(4, queue.Count);
        Assert.False(c.IsDisplaced);
        Assert.False(b1.IsDisplaced && a[1].IsDisplaced);
    }

    [Fact]
    public void A_started_request_no_longer_waits_and_cannot_be_displaced()
    {
        var queue = new WaitQueue(1);
        var first = queue.Enqueue("a");
        Assert.True(first.TryStart());
        Assert.Equal(0, queue.Count);
        var second = queue.Enqueue("a");
        Assert.Equal(1, queue.Count);
        second.EndWaiting(); // cancelled before it started
        Assert.Equal(0, queue.Count);
        Assert.False(second.TryStart());
        queue.Enqueue("b");
        Assert.False(first.IsDisplaced);
    }

    [Fact]
    public void A_queue_of_no_places_refuses_everything()
    {
        var queue = new WaitQueue(0);
        Assert.Throws<EngineOverloadedException>(() => queue.Enqueue("a"));
    }
}
