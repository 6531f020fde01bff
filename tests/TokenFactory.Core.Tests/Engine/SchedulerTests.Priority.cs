using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Kv;

namespace TokenFactory.Tests.Engine;

/// <summary>Priority classes in the scheduler: admission, prompt-chunk order, the batch share of a step, preemption victims.</summary>
public sealed partial class SchedulerTests
{
    /// <summary>A sequence whose prompt shares no prefix with another's, so the prefix cache plays no part.</summary>
    private static Sequence Seq(int id, int promptLength, PriorityClass priority, Tenant? tenant = null)
    {
        var random = new Random(id);
        int[] prompt = [.. Enumerable.Range(0, promptLength).Select(_ => random.Next(3, 512))];
        return Seq(id, promptLength, SequenceGroup.Single(tenant ?? new Tenant(""), priority), prompt);
    }

    /// <summary>A scheduler with one running slot, <paramref name="running"/> in it after its first step.</summary>
    private static (Scheduler Scheduler, StepBatch Batch) OneSlotRunning(Sequence running)
    {
        var s = new Scheduler(new KvBlockPool(1, 8, 64), maxBatchTokens: 256, maxRunning: 1);
        var batch = new StepBatch(256, 1);
        s.Add(running);
        Step(s, batch);
        return (s, batch);
    }

    [Fact]
    public void Waiting_sequences_start_by_class_then_fairly_between_tenants_then_in_arrival_order()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 4);
        var batch = new StepBatch(256, 4);
        var (a, b) = (new Tenant("a"), new Tenant("b"));
        var batchA = Seq(1, 8, PriorityClass.Batch, a);
        var standardA = Seq(2, 8, PriorityClass.Standard, a);
        var interactiveA1 = Seq(3, 8, PriorityClass.Interactive, a);
        var interactiveA2 = Seq(4, 8, PriorityClass.Interactive, a);
        var interactiveB = Seq(5, 8, PriorityClass.Interactive, b);
        foreach (var q in new[] { batchA, standardA, interactiveA1, interactiveA2, interactiveB })
            s.Add(q);

        Step(s, batch);
        // Interactive first; within it tenant b (nobody running) before a's second; then standard; batch waits for a slot.
        Assert.Equal([interactiveA1, interactiveB, interactiveA2, standardA], s.Running);
        Assert.Equal([batchA], s.Waiting);
    }

    [Fact]
    public void With_every_slot_taken_by_batch_work_an_interactive_request_preempts_the_newest_batch_sequence()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 2);
        var batch = new StepBatch(256, 2);
        var older = Seq(1, 40, PriorityClass.Batch);
        var newer = Seq(2, 40, PriorityClass.Batch);
        s.Add(older);
        s.Add(newer);
        Step(s, batch);
        Step(s, batch); // both decode
        var interactive = Seq(3, 8, PriorityClass.Interactive);
        s.Add(interactive);

        Step(s, batch);
        Assert.Equal([older, interactive], s.Running);
        Assert.Equal([newer], s.Waiting); // preempted, first in line once a slot frees
        Assert.Equal(1, s.Preemptions);

        s.Finish(interactive);
        Step(s, batch);
        Assert.Equal([older, newer], s.Running);
        Assert.Equal(32, newer.ComputedCount - 10); // its two full prompt blocks came back from the prefix cache
    }

    [Fact]
    public void A_batch_sequence_gives_its_slot_up_at_most_three_times_and_never_without_a_prefix_cache_to_resume_from()
    {
        var bulk = Seq(1, 20, PriorityClass.Batch);
        var (s, batch) = OneSlotRunning(bulk);
        for (int round = 0; round < 3; round++)
        {
            var chat = Seq(10 + round, 8, PriorityClass.Interactive);
            s.Add(chat);
            Step(s, batch);
            Assert.Equal([chat], s.Running);
            s.Finish(chat);
            Step(s, batch);
            Assert.Equal([bulk], s.Running); // resumed
        }
        Assert.Equal(3, bulk.Preemptions);
        var late = Seq(20, 8, PriorityClass.Interactive);
        s.Add(late);
        Step(s, batch);
        Assert.Equal([bulk], s.Running); // three times is enough: it runs to its end now
        Assert.Equal([late], s.Waiting);

        var hybrid = new Scheduler(new KvBlockPool(1, 8, 64), maxBatchTokens: 256, maxRunning: 1, prefixCaching: false);
        var other = Seq(30, 20, PriorityClass.Batch);
        hybrid.Add(other);
        Step(hybrid, batch);
        hybrid.Add(Seq(31, 8, PriorityClass.Interactive));
        Step(hybrid, batch);
        Assert.Equal([other], hybrid.Running); // it would recompute from the start: no slot preemption
        Assert.Equal(0, hybrid.Preemptions);
    }

    [Fact]
    public void Preemptions_for_want_of_blocks_do_not_use_up_a_batch_sequence_s_slot_yields()
    {
        var bulk = Seq(1, 20, PriorityClass.Batch);
        var (s, batch) = OneSlotRunning(bulk);
        bulk.Preemptions = 5; // preempted five times when the cache ran out of blocks, before any interactive work came
        var chat = Seq(10, 8, PriorityClass.Interactive);
        s.Add(chat);
        Step(s, batch);
        Assert.Equal([chat], s.Running); // it still gives its slot to the chat
        Assert.Equal(1, bulk.SlotYields);
    }

    [Fact]
    public void A_tenant_whose_only_sequence_is_preempted_is_not_forgotten()
    {
        var queue = new WaitQueue(2000);
        var bulkGroup = queue.Enqueue("a", PriorityClass.Batch);
        var bulk = Seq(1, 20, bulkGroup);
        var (s, batch) = OneSlotRunning(bulk);
        s.Add(Seq(2, 8, PriorityClass.Interactive));
        Step(s, batch); // the batch sequence gives its slot up: nothing of a's runs or waits in the queue now
        Assert.Equal(1, bulk.SlotYields);
        Assert.Equal((0, 1), (bulkGroup.Tenant.Running, bulkGroup.Tenant.Holding));

        // A thousand idle callers fill the tenant table; the next one makes it forget the idle ones.
        for (int i = 0; i < 1100; i++)
            queue.Enqueue($"t{i}").TryStart();
        // a is not idle: its count still orders the queue when its sequence runs again (a fresh one would start at 0).
        Assert.Same(bulkGroup.Tenant, queue.Enqueue("a").Tenant);
        s.Finish(bulk);
        Assert.Equal(0, bulkGroup.Tenant.Holding);
    }

    [Fact]
    public void Batch_work_preempts_nothing_and_a_standard_request_preempts_only_batch()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 2);
        var batch = new StepBatch(256, 2);
        var first = Seq(1, 8, PriorityClass.Standard);
        var second = Seq(2, 8, PriorityClass.Batch);
        s.Add(first);
        s.Add(second);
        Step(s, batch);
        s.Add(Seq(3, 8, PriorityClass.Batch));
        Step(s, batch);
        Assert.Equal(0, s.Preemptions); // a batch arrival waits
        var standard = Seq(4, 8, PriorityClass.Standard);
        s.Add(standard);
        Step(s, batch);
        Assert.Equal([first, standard], s.Running); // the batch one gave way, not the other standard one
        Assert.Equal(1, s.Preemptions);
    }

    [Fact]
    public void Prompt_chunks_of_higher_classes_are_planned_before_lower_ones()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 64, maxRunning: 4);
        var batch = new StepBatch(64, 4);
        var interactive = Seq(1, 4, PriorityClass.Interactive);
        s.Add(interactive);
        Step(s, batch); // its prompt; it decodes from now on
        var bulk = Seq(2, 200, PriorityClass.Batch);
        s.Add(bulk);
        Step(s, batch); // admitted behind the interactive decode, held to a quarter of the step
        var standard = Seq(3, 47 + 55, PriorityClass.Standard);
        s.Add(standard);
        Step(s, batch); // the batch prompt's 16 tokens leave 47 to admit the standard one with
        Assert.Equal([interactive, bulk, standard], s.Running); // arrival order in the running list

        Step(s, batch);
        // The decode, then the standard prompt's last 55 tokens, then the 8 left for the batch prompt, though it runs
        // longer (in running order the batch prompt would have taken its 16 first and left the standard one 47).
        Assert.Equal([interactive, standard, bulk], s.Planned.Select(p => p.Sequence));
        Assert.Equal([1, 55, 8], s.Planned.Select(p => p.TokenCount));
    }

    [Fact]
    public void Batch_prompts_get_a_quarter_of_the_step_while_an_interactive_sequence_runs()
    {
        var pool = new KvBlockPool(1, 8, 128);
        var s = new Scheduler(pool, maxBatchTokens: 64, maxRunning: 4);
        var batch = new StepBatch(64, 4);
        var interactive = Seq(1, 4, PriorityClass.Interactive);
        s.Add(interactive);
        Step(s, batch);
        var bulk = Seq(2, 300, PriorityClass.Batch);
        var standard = Seq(3, 40, PriorityClass.Standard);
        s.Add(bulk);
        for (int step = 0; step < 5; step++)
        {
            Step(s, batch);
            Assert.Equal(interactive, s.Planned[0].Sequence);
            Assert.Equal(1 + 64 / Scheduler.BatchShareWhileInteractive, batch.TokenCount); // its decode and 16 batch tokens
        }
        // A standard prompt is not held back: it takes the rest of the step beside the batch share.
        s.Add(standard);
        Step(s, batch);
        Assert.Equal(1 + 16 + 40, batch.TokenCount);
        s.Finish(standard);
        // Once no interactive sequence runs, the batch prompt takes the whole budget.
        s.Finish(interactive);
        Step(s, batch);
        Assert.Equal(64, batch.TokenCount);
        Assert.Equal([bulk], s.Planned.Select(p => p.Sequence));
        s.Finish(bulk);
        Assert.Equal(128, pool.FreeBlockCount);
    }

    [Fact]
    public void Preemption_takes_the_newest_of_the_lowest_class_and_a_waiting_higher_class_starts_before_it()
    {
        var pool = new KvBlockPool(1, 8, 10);
        var s = new Scheduler(pool, maxBatchTokens: 64, maxRunning: 5, prefixCaching: false, watermarkBlocks: 0);
        var batch = new StepBatch(64, 5);
        var olderBulk = Seq(1, 32, PriorityClass.Batch); // 2 blocks, a third for its first generated token
        var newerBulk = Seq(2, 32, PriorityClass.Batch);
        s.Add(olderBulk);
        s.Add(newerBulk);
        Step(s, batch);
        var interactive = Seq(3, 31, PriorityClass.Interactive); // 2 blocks until its 33rd token
        var standard = Seq(4, 31, PriorityClass.Standard);
        s.Add(interactive);
        s.Add(standard);
        Step(s, batch); // the batch decodes take their third blocks, the newcomers two each: all 10 in use
        Step(s, batch);
        Assert.Equal([olderBulk, newerBulk, interactive, standard], s.Running);
        Assert.Equal(0, s.Preemptions);
        var lateInteractive = Seq(5, 8, PriorityClass.Interactive);
        s.Add(lateInteractive);

        Step(s, batch); // the interactive and standard sequences each need a third block and none is free
        // The newest overall is the standard one; the newest of the lowest class is the newer batch sequence.
        Assert.Equal(1, s.Preemptions);
        Assert.Equal([0, 1, 0, 0], new[] { olderBulk, newerBulk, interactive, standard }.Select(q => q.Preemptions));
        // One block is left after the two took theirs: the waiting interactive sequence gets it before the preempted batch
        // one (a preempted sequence goes first only among its class and below), which starts again first after it.
        Assert.Equal([olderBulk, interactive, standard, lateInteractive], s.Running);
        Assert.Equal([newerBulk], s.Waiting);
        foreach (var q in new[] { olderBulk, newerBulk, interactive, standard, lateInteractive })
            s.Finish(q);
        Assert.Equal(10, pool.FreeBlockCount);
    }
}
