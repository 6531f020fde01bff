using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Kv;
using TokenFactory.Models;

namespace TokenFactory.Tests.Engine;

/// <summary>The scheduler on its own (no model runs): budgets, decode-first order, admission and preemption.</summary>
public sealed partial class SchedulerTests
{
    private static readonly TokenFactory.Tokenization.Tokenizer Tokenizer = LoadTokenizer();

    private static TokenFactory.Tokenization.Tokenizer LoadTokenizer()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        return TokenFactory.Tokenization.Tokenizer.FromMetadata(model.File.Metadata);
    }

    private static Sequence Seq(int id, int promptLength, SequenceGroup? group = null, int[]? prompt = null) => new(id, new GenerationRequest
    {
        // Distinct prompts unless a test shares one: sequences whose prompts share leading blocks wait on each other.
        PromptTokens = prompt ?? [3 + id % 400, .. Enumerable.Range(3, Math.Max(0, promptLength - 1))],
        MaxTokens = 100,
        Sampling = SamplingParameters.Greedy,
    }, 512, Tokenizer, new RecordingOutput(), CancellationToken.None, group ?? SequenceGroup.Single(new Tenant("")));

    /// <summary>Runs a step as the engine would, pretending every sequence that finished its tokens sampled token 7.</summary>
    private static void Step(Scheduler s, StepBatch batch)
    {
        s.Schedule(batch);
        s.Complete();
        foreach (var p in s.Planned)
        {
            if (p.Sequence.UncomputedCount == 0)
                p.Sequence.Tokens.Add(7);
        }
    }

    [Fact]
    public void A_cached_prefix_counts_as_reached_only_once_its_sequence_is_admitted()
    {
        var pool = new KvBlockPool(1, 8, 8);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 4);
        var batch = new StepBatch(256, 4);
        int[] shared = [.. Enumerable.Range(3, 64)];
        var first = Seq(1, 48, prompt: shared[..48]);
        s.Add(first);
        Step(s, batch);
        s.Finish(first); // its three full blocks stay in the prefix cache
        var big = Seq(2, 80);
        s.Add(big);
        Step(s, batch); // five blocks: the three cached ones are all that is free
        Assert.Equal(3, pool.FreeBlockCount);

        var late = Seq(3, 64, prompt: shared);
        s.Add(late);
        Step(s, batch);
        Assert.Equal([late], s.Waiting); // its cached blocks found, but no block for the rest: not admitted
        // Billing reads PromptReached when a request is cancelled: nothing of this prompt was reached yet (it said 32, the cached blocks' tokens).
        Assert.Equal(0, late.PromptReached);

        s.Finish(big);
        Step(s, batch);
        Assert.Equal([late], s.Running);
        Assert.Equal(64, late.PromptReached);
    }

    [Fact]
    public void Long_prompt_is_chunked_under_the_budget_while_decodes_go_first()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 32, maxRunning: 4);
        var batch = new StepBatch(32, 4);
        var shortOne = Seq(1, 10);
        s.Add(shortOne);
        Step(s, batch);
        Assert.Equal(10, batch.TokenCount);
        var longOne = Seq(2, 100);
        s.Add(longOne);
        for (int step = 0; step < 4; step++)
        {
            Step(s, batch);
            Assert.Equal(shortOne, s.Planned[0].Sequence); // its decode token first
            Assert.Equal(1, s.Planned[0].TokenCount);
            Assert.Equal(Math.Min(31, 100 - 31 * step), s.Planned[1].TokenCount);
            Assert.True(batch.TokenCount <= 32);
        }
        Assert.Equal(0, longOne.UncomputedCount - 1); // prompt done, one sampled token pending
    }

    [Fact]
    public void Admission_keeps_a_watermark_and_block_shortage_preempts_the_newest()
    {
        var pool = new KvBlockPool(1, 8, 5);
        var s = new Scheduler(pool, maxBatchTokens: 128, maxRunning: 4, watermarkBlocks: 1);
        var batch = new StepBatch(128, 4);
        var a = Seq(1, 32); // 2 blocks
        var b = Seq(2, 31); // 2 blocks
        var c = Seq(3, 30); // 2 blocks, but only 1 is left and 1 is the watermark
        s.Add(a);
        s.Add(b);
        s.Add(c);
        Step(s, batch);
        Assert.Equal([a, b], s.Running);
        Assert.Equal([c], s.Waiting);
        // a needs a third block for its 33rd token, b's 32nd fits: a takes the last free block.
        Step(s, batch);
        Assert.Equal(0, s.Preemptions);
        // Next step b needs a block and none is free: the newest (b) is preempted and re-queued first.
        Step(s, batch);
        Assert.Equal(1, s.Preemptions);
        Assert.Equal([a], s.Running);
        Assert.Equal(b, s.Waiting[0]);
        Assert.Empty(b.Blocks);
        s.Finish(a);
        s.Finish(b);
        s.Finish(c);
        Assert.Equal(5, pool.FreeBlockCount);
    }

    [Fact]
    public void Waiting_sequences_start_fairly_between_tenants_not_in_arrival_order()
    {
        var queue = new WaitQueue(16);
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 3);
        var batch = new StepBatch(256, 3);
        var flood = queue.Enqueue("flooder");
        var floods = Enumerable.Range(0, 6).Select(i => Seq(10 + i, 8 + i, flood)).ToList(); // six choices, each its own prompt
        var other = queue.Enqueue("other");
        var late = Seq(20, 8, other);
        foreach (var f in floods)
            s.Add(f);
        s.Add(late);
        Assert.Equal(2, queue.Count);

        Step(s, batch);
        // Arrival order would run three of the flood; fairness runs the other tenant's request as soon as the flood has one.
        Assert.Contains(late, s.Running);
        Assert.Equal(2, s.Running.Count(r => r.Group == flood));
        Assert.Equal((2, 1), (flood.Tenant.Running, other.Tenant.Running));
        Assert.Equal(0, queue.Count); // both requests have started
        s.Finish(late);
        Assert.Equal(0, other.Tenant.Running);
        foreach (var f in floods)
            s.Finish(f);
        Assert.Equal(0, flood.Tenant.Running);
        Assert.Equal(64, pool.FreeBlockCount);
    }

    [Fact]
    public void Choices_of_one_prompt_wait_for_its_first_and_then_share_its_blocks()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 4);
        var batch = new StepBatch(256, 4);
        var group = new WaitQueue(4).Enqueue("t");
        int[] prompt = [.. Enumerable.Range(3, 40)]; // two full blocks and 8 tokens
        var choices = Enumerable.Range(0, 3).Select(i => Seq(i, 0, group, prompt)).ToList();
        foreach (var c in choices)
            s.Add(c);

        s.Schedule(batch);
        Assert.Equal([choices[0]], s.Running); // the others would compute the same 40 tokens in the same step
        Assert.Equal(40, batch.TokenCount);
        s.Complete();
        choices[0].Tokens.Add(7);

        s.Schedule(batch);
        Assert.Equal(3, s.Running.Count);
        Assert.All(choices.Skip(1), c => Assert.Equal(32, c.CachedPromptTokens)); // the two full blocks came from the cache
        Assert.Equal(1 + 2 * 8, batch.TokenCount); // the leader's decode token, and each sibling's last partial block
        s.Complete();
        foreach (var c in choices)
            s.Finish(c);
        Assert.Equal(64, pool.FreeBlockCount);
    }

    [Fact]
    public void A_request_sharing_the_leading_blocks_of_one_being_computed_waits_for_them_and_then_shares_them()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 4);
        var batch = new StepBatch(256, 4);
        int[] document = [.. Enumerable.Range(3, 40)]; // two full blocks and 8 tokens
        var first = Seq(1, 0, prompt: [.. document, 100, 101]);
        var second = Seq(2, 0, prompt: [.. document, 200]);
        var unrelated = Seq(3, 0, prompt: [.. Enumerable.Range(500, 40)]);
        s.Add(first);
        s.Add(second);
        s.Add(unrelated);

        s.Schedule(batch);
        Assert.Equal([first, unrelated], s.Running); // the second would compute the same two blocks in the same step
        s.Complete();
        first.Tokens.Add(7);
        unrelated.Tokens.Add(7);

        s.Schedule(batch);
        Assert.Contains(second, s.Running);
        Assert.Equal(32, second.CachedPromptTokens); // the document's two full blocks, from the cache
        s.Complete();
        foreach (var q in new[] { first, second, unrelated })
            s.Finish(q);
        Assert.Equal(64, pool.FreeBlockCount);
    }

    [Fact]
    public void Only_a_request_of_the_same_class_or_lower_waits_for_the_shared_blocks_an_interactive_one_computes_its_own()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 64, maxRunning: 4);
        var batch = new StepBatch(64, 4);
        int[] document = [.. Enumerable.Range(3, 80)]; // five full blocks
        var computing = Seq(1, 0, SequenceGroup.Single(new Tenant("a")), [.. document, 100]);
        s.Add(computing);
        s.Schedule(batch);
        s.Complete(); // 64 of its 81 prompt tokens: four of the document's five blocks are cached
        Assert.Equal(4, computing.HashedBlocks);
        var standard = Seq(2, 0, SequenceGroup.Single(new Tenant("b")), [.. document, 200]);
        var interactive = Seq(3, 0, SequenceGroup.Single(new Tenant("c"), PriorityClass.Interactive), [.. document, 300]);
        s.Add(standard);
        s.Add(interactive);
        s.Schedule(batch);
        Assert.Contains(interactive, s.Running); // takes the four cached blocks and computes the rest itself
        Assert.Equal(64, interactive.CachedPromptTokens);
        Assert.DoesNotContain(standard, s.Running); // waits one step for the fifth, though the budget has room for it
        Assert.True(batch.TokenCount < 64 - 17, $"{batch.TokenCount} tokens planned");
        s.Complete();
        computing.Tokens.Add(7);
        interactive.Tokens.Add(7);
        s.Schedule(batch);
        Assert.Contains(standard, s.Running);
        Assert.Equal(80, standard.CachedPromptTokens);
        s.Complete();
    }

    [Fact]
    public void A_batch_of_different_prompts_does_not_wait_on_its_first()
    {
        var pool = new KvBlockPool(1, 8, 64);
        var s = new Scheduler(pool, maxBatchTokens: 256, maxRunning: 4);
        var batch = new StepBatch(256, 4);
        var group = new WaitQueue(4).Enqueue("t");
        var prompts = Enumerable.Range(0, 3).Select(i => Seq(i, 40 + i, group)).ToList();
        foreach (var p in prompts)
            s.Add(p);
        s.Schedule(batch);
        Assert.Equal(3, s.Running.Count);
        s.Complete();
        foreach (var p in prompts)
            s.Finish(p);
    }
}
