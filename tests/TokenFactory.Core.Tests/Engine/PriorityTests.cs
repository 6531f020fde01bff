using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// Priority classes through the real engine (stories260K, stepped on this thread): an interactive stream beside a long
/// batch prompt. A step's time grows with its tokens (each is a row of every matrix product), so the step's token count
/// is the measure of how long the interactive stream waits for its next token; unlike wall time it does not depend on
/// what else the test machine runs.
/// </summary>
public sealed class PriorityTests
{
    private const int BatchTokens = 64;

    [Theory]
    [InlineData(PriorityClass.Batch, BatchTokens / Scheduler.BatchShareWhileInteractive)]
    [InlineData(PriorityClass.Standard, BatchTokens - 1)]
    public void An_interactive_stream_decodes_every_step_while_a_long_prompt_takes_its_class_share(PriorityClass longPromptClass, int promptTokensPerStep)
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 512, MaxRunningSequences = 4, MaxBatchTokens = BatchTokens });
        var chat = new RecordingOutput();
        core.Add(core.CreateSequence(Greedy(Prompt(8, 1, model.VocabSize), 100), chat, group: SequenceGroup.Single(new Tenant("chat"), PriorityClass.Interactive)));
        Assert.True(core.Step());
        Assert.Single(chat.Tokens); // its prompt ran: it decodes from here on
        var bulk = new RecordingOutput();
        const int longPrompt = 400;
        core.Add(core.CreateSequence(Greedy(Prompt(longPrompt, 2, model.VocabSize), 4), bulk, group: SequenceGroup.Single(new Tenant("bulk"), longPromptClass)));

        int steps = 0;
        while (bulk.Tokens.Count == 0)
        {
            var before = core.Counters;
            int chatTokens = chat.Tokens.Count;
            Assert.True(core.Step());
            steps++;
            var after = core.Counters;
            Assert.Equal(chatTokens + 1, chat.Tokens.Count); // a token every step, never starved
            Assert.Equal(1, after.DecodeTokens - before.DecodeTokens);
            Assert.True(after.PrefillTokens - before.PrefillTokens <= promptTokensPerStep, $"step {steps}: {after.PrefillTokens - before.PrefillTokens} prompt tokens");
        }
        Assert.Equal((longPrompt + promptTokensPerStep - 1) / promptTokensPerStep, steps); // the long prompt still moved at its share every step
        Assert.Null(chat.Summary);
    }

    [Fact]
    public void The_status_reports_prompt_work_ahead_and_measured_throughput()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 512, MaxRunningSequences = 4, MaxBatchTokens = BatchTokens, MaxWaitingRequests = 8 });
        var idle = engine.Status;
        Assert.Equal((0, 0L, 0.0, 0.0), (idle.Running, idle.PendingPrefillTokens, idle.PrefillTokensPerSecond, idle.DecodeTokensPerSecond));
        Assert.Equal((4, 8, 16, true), (idle.MaxRunning, idle.MaxWaitingRequests, idle.KvBlockSize, idle.PrefixCaching));
        Assert.Equal(idle.KvBlocksTotal, idle.KvBlocksFree);
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 512, MaxRunningSequences = 4, MaxBatchTokens = BatchTokens });
        var output = new RecordingOutput();
        core.Add(core.CreateSequence(Greedy(Prompt(200, 3, model.VocabSize), 8), output));
        Assert.True(core.Step());
        Assert.Equal(200 - BatchTokens, core.PendingPrefillTokens);
        Assert.True(core.PrefillTokensPerSecond > 0);
        Assert.Equal(0, core.DecodeTokensPerSecond);
        while (output.Tokens.Count < 2)
            Assert.True(core.Step());
        Assert.Equal(0, core.PendingPrefillTokens);
        Assert.True(core.DecodeTokensPerSecond > 0);
    }
}
