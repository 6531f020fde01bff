using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>Each step's energy and time are shared among the sequences in it, by the tokens each ran.</summary>
public sealed class WorkShareTests
{
    /// <summary>One joule more at every reading: a step (read before and after) is worth exactly 1 J.</summary>
    private sealed class OneJoulePerRead : IEnergyMeter
    {
        private long _reads;
        public long Reads => Interlocked.Read(ref _reads);
        public double ReadJoules() => Interlocked.Increment(ref _reads);
        public bool IsEstimated => true;
        public string Source => "test";
    }

    [Fact]
    public async Task A_lone_sequence_is_charged_every_step_split_into_prompt_and_generation()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var meter = new OneJoulePerRead();
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 256, EnergyMeter = meter });
        var outcome = await Collect(engine, Greedy(Prompt(20, 1, model.VocabSize), 5));
        var work = outcome.Final.Work;
        // One step for the 20-token prompt (it also samples the first token), then four one-token decode steps.
        Assert.Equal(1, work.PrefillJoules, 9);
        Assert.Equal(4, work.DecodeJoules, 9);
        Assert.Equal(meter.Reads / 2, work.Joules, 9);
        Assert.True(work.PrefillSeconds > 0 && work.DecodeSeconds > 0);
    }

    /// <summary>
    /// A client that leaves while its long prompt is still being computed is charged the part that was computed: the
    /// summary said the whole prompt (a 200-token prompt left after two 32-token steps was charged 200).
    /// </summary>
    [Fact]
    public void A_request_cancelled_part_way_through_its_prompt_reports_the_prompt_tokens_computed()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 256, MaxBatchTokens = 32, PrefixCaching = false });
        using var cts = new CancellationTokenSource();
        var output = new RecordingOutput();
        core.Add(core.CreateSequence(Greedy(Prompt(200, 3, model.VocabSize), 4), output, cts.Token));
        Assert.True(core.Step());
        Assert.True(core.Step());
        cts.Cancel();
        while (core.Step())
        {
        }
        Assert.Equal(FinishReason.Cancelled, output.Summary!.FinishReason);
        Assert.Equal(64, output.Summary.PromptTokens);
        Assert.Equal(0, output.Summary.CompletionTokens);
        Assert.Equal(core.KvBlocksTotal, core.KvBlocksFree);
    }

    [Fact]
    public async Task Concurrent_sequences_share_each_step_and_nothing_is_lost_or_counted_twice()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var meter = new OneJoulePerRead();
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 256, MaxBatchTokens = 32, EnergyMeter = meter });
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Collect(engine, Greedy(Prompt(10 + 7 * i, i, model.VocabSize), 8 + i))));
        await Idle(engine);
        double total = outcomes.Sum(o => o.Final.Work.Joules);
        Assert.Equal(meter.Reads / 2, total, 6); // every step's joule went to exactly its sequences
        // The longest prompt did the most prompt work, so it carries the largest prompt share.
        Assert.Equal(outcomes.MaxBy(o => o.Final.PromptTokens), outcomes.MaxBy(o => o.Final.Work.PrefillJoules));
        Assert.All(outcomes, o => Assert.True(o.Final.Work.DecodeJoules > 0 && o.Final.Work.DecodeJoules < o.Final.CompletionTokens));
    }
}
