using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// A caller that stops reading its stream: the engine pauses that sequence once its unread updates reach
/// <see cref="ChannelOutput.MaxUnread"/> (instead of buffering its whole answer), keeps running the others, does not spin
/// while everything waits, and resumes it where it stopped when the reader catches up.
/// </summary>
public sealed class SlowReaderTests
{
    [Fact]
    public async Task A_sequence_whose_reader_stops_pauses_while_others_run_and_resumes_with_the_same_tokens()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var slow = Greedy(Prompt(8, 1, model.VocabSize), 300);
        var fast = Greedy(Prompt(8, 2, model.VocabSize), 300);
        var expected = Reference(model, slow).Tokens;
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 512 });

        await using var unread = engine.GenerateAsync(slow).GetAsyncEnumerator();
        var fastOutcome = await Collect(engine, fast);
        Assert.Equal(300, fastOutcome.Tokens.Count);
        // The fast one decoded 299 tokens (its first came from its prompt); the unread one stopped at the backlog limit
        // (without the pause it ran beside the fast one to its end: 598).
        long decoded = engine.Counters.DecodeTokens;
        Assert.InRange(decoded, 299, 299 + ChannelOutput.MaxUnread);

        // Paused, not spinning: a loop looking again every few milliseconds, not one step after another.
        long steps = engine.Counters.Steps, empty = engine.EmptySteps;
        await Task.Delay(300);
        Assert.Equal(decoded, engine.Counters.DecodeTokens);
        Assert.Equal(steps, engine.Counters.Steps);
        Assert.InRange(engine.EmptySteps - empty, 1, 100);

        var tokens = new List<int>();
        GenerationSummary? final = null;
        while (await unread.MoveNextAsync())
        {
            if (unread.Current.Final is { } f)
                final = f;
            else if (unread.Current.Token >= 0)
                tokens.Add(unread.Current.Token);
        }
        Assert.Equal(expected, tokens);
        Assert.Equal(FinishReason.Length, final?.FinishReason);
        var counters = await Idle(engine);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
    }

    [Fact]
    public async Task A_paused_sequence_whose_reader_leaves_releases_its_blocks()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 512 });
        var unread = engine.GenerateAsync(Greedy(Prompt(8, 3, model.VocabSize), 400)).GetAsyncEnumerator();
        Assert.True(await unread.MoveNextAsync());
        // Let it reach the backlog limit and pause, then leave without reading the rest.
        for (int i = 0; i < 200 && engine.Counters.DecodeTokens < ChannelOutput.MaxUnread; i++)
            await Task.Delay(10);
        await Task.Delay(100);
        Assert.InRange(engine.Counters.DecodeTokens, ChannelOutput.MaxUnread - 1, ChannelOutput.MaxUnread + 1);
        await unread.DisposeAsync();
        var counters = await Idle(engine);
        Assert.True(engine.IsIdle);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(1, counters.RequestsCancelled);
    }

    [Fact]
    public async Task A_reader_catching_up_wakes_an_engine_that_had_nothing_else_to_run()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 512 });
        engine.StalledPoll = TimeSpan.FromSeconds(30); // the loop's own look would come too late: only the reader's wake resumes it in time
        await using var stream = engine.GenerateAsync(Greedy(Prompt(8, 4, model.VocabSize), 300)).GetAsyncEnumerator();
        Assert.True(await stream.MoveNextAsync());
        for (int i = 0; i < 200 && engine.Counters.DecodeTokens < ChannelOutput.MaxUnread - 1; i++)
            await Task.Delay(10);
        await Task.Delay(100); // paused, the loop waiting

        // 300 tokens pause it about five times; each resumes when the reader has read half its backlog.
        var reading = Task.Run(async () =>
        {
            int tokens = 1;
            while (await stream.MoveNextAsync())
                tokens += stream.Current.Final is null && stream.Current.Token >= 0 ? 1 : 0;
            return tokens;
        });
        Assert.True(await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(10))) == reading, "a paused engine waited for its own look instead of the reader's wake");
        Assert.Equal(300, await reading);
    }
}
