using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Tests.Engine;

/// <summary>Faults on the engine thread's paths that no model input reaches: each ends one request, never the engine.</summary>
public sealed class EngineFaultTests
{
    [Fact]
    public async Task A_choice_cancelled_while_its_group_waits_ends_the_others_and_the_engine_goes_on()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 256, MaxRunningSequences = 4, PrefixCaching = false });
        var group = new WaitQueue(10).Enqueue("t");
        var request = EngineTestHelpers.Greedy([1, 20, 30, 40], maxTokens: 4);
        RecordingOutput first = new(), second = new();
        var a = core.CreateSequence(request, first, default, group);
        var b = core.CreateSequence(request, second, default, group);
        core.Add(a);
        core.Add(b);
        a.Abandon(); // before any step: the group ends its wait with b still in it
        // A step loop that never admits b would spin on the engine thread: bound it.
        var run = Task.Run(() =>
        {
            while (core.Step())
            {
            }
        });
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) == run, "the engine kept stepping over a choice it could never admit");
        await run;
        // The request's choices start together or not at all: the other one leaves as cancelled, and nothing is held.
        Assert.Equal(FinishReason.Cancelled, second.Summary!.FinishReason);
        Assert.Empty(second.Tokens);
        Assert.Equal(core.KvBlocksTotal, core.KvBlocksFree);
        var after = EngineTestHelpers.RunToEnd(core, request);
        Assert.Equal(4, after.Tokens.Count);
    }

    [Fact]
    public void A_failing_energy_meter_costs_a_step_its_energy_figure_never_the_step()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var meter = new FlakyMeter();
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 256, EnergyMeter = meter });
        var output = EngineTestHelpers.RunToEnd(core, EngineTestHelpers.Greedy([1, 20, 30, 40], maxTokens: 6));
        Assert.Equal(6, output.Tokens.Count);
        Assert.True(meter.Reads > 4, $"{meter.Reads} reads"); // it was read around every step, and threw on every third
        Assert.True(output.Summary!.Work.Joules >= 0 && double.IsFinite(output.Summary.Work.Joules));
        Assert.True(output.Summary.Work.Joules > 0); // the steps whose readings held were charged: one failure costs its step only
    }

    /// <summary>Counts 1 J a reading and throws on every third, as a RAPL counter file that vanished would.</summary>
    private sealed class FlakyMeter : IEnergyMeter
    {
        public int Reads;
        public bool IsEstimated => false;
        public string Source => "flaky";

        public double ReadJoules() => ++Reads % 3 == 0 ? throw new IOException("counter gone") : Reads;
    }

    [Fact]
    public void A_file_whose_output_has_rows_the_tokenizer_cannot_spell_is_refused_when_the_engine_starts()
    {
        using var original = TokenFactory.Gguf.GgufFile.Open(TestPaths.Stories260K);
        var w = new TokenFactory.Gguf.GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        // Eight padding rows past the tokenizer's 512 tokens: ids the model could sample and no one could spell.
        w.Metadata.Set("llama.vocab_size", TokenFactory.Gguf.GgufValue.Of(520u));
        foreach (var t in original.Tensors)
        {
            bool vocabRows = t.Name is "token_embd.weight" or "output.weight";
            byte[] bytes = original.TensorBytes(t).ToArray();
            w.AddTensor(t.Name, vocabRows ? [t.Dimensions[0], 520] : t.Dimensions, t.Type, vocabRows ? [.. bytes, .. new byte[8 * 64 * 4]] : bytes);
        }
        using var file = TokenFactory.Gguf.GgufFile.FromBytes(w.ToBytes(), "padded.gguf");
        using var model = TransformerModel.Load(file);
        Assert.Equal(520, model.VocabSize);
        var e = Assert.Throws<TokenFactoryException>(() => new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 64 }));
        Assert.Contains("512 tokens but the output matrix has 520 rows", e.Message);
    }

    [Fact]
    public async Task Cancel_all_ends_every_generation_as_cancelled_and_the_engine_goes_on()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 1, ContextLength = 2048 });
        var request = EngineTestHelpers.Greedy([1, 20, 30, 40], maxTokens: 1900);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = Task.Run(async () =>
        {
            GenerationSummary? final = null;
            int tokens = 0;
            await foreach (var u in engine.GenerateAsync(request))
            {
                if (u.Final is { } f)
                    final = f;
                else if (++tokens == 1)
                    first.TrySetResult();
            }
            return final!;
        });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(30));
        engine.CancelAll();
        var summary = await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Cancelled, summary.FinishReason);
        Assert.InRange(summary.CompletionTokens, 1, 1899);
        var after = await EngineTestHelpers.Collect(engine, EngineTestHelpers.Greedy([1, 20, 30, 40], maxTokens: 3));
        Assert.Equal(FinishReason.Length, after.Final.FinishReason); // the next request runs as ever
    }

    [Fact]
    public void A_header_with_an_absurd_block_count_or_an_oversized_array_value_is_a_clear_error()
    {
        TokenFactory.Gguf.GgufFile Rewrite(Action<TokenFactory.Gguf.GgufMetadata> change)
        {
            using var original = TokenFactory.Gguf.GgufFile.Open(TestPaths.Stories260K);
            var w = new TokenFactory.Gguf.GgufWriter();
            foreach (var (k, v) in original.Metadata)
                w.Metadata.Set(k, v);
            change(w.Metadata);
            foreach (var t in original.Tensors)
                w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
            return TokenFactory.Gguf.GgufFile.FromBytes(w.ToBytes(), "bad.gguf");
        }
        // Two billion blocks: refused by name, not an out-of-memory while tables are sized by it.
        using (var f = Rewrite(m => m.Set("llama.block_count", TokenFactory.Gguf.GgufValue.Of(2_000_000_000u))))
            Assert.Contains("block_count 2000000000 exceeds", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        // A 64-bit array element past int: named, not an OverflowException.
        using (var f = Rewrite(m => m.Set("tokenizer.ggml.token_type", new TokenFactory.Gguf.GgufValue(TokenFactory.Gguf.GgufValueType.Array, new ulong[] { 1, 3_000_000_000 }, TokenFactory.Gguf.GgufValueType.UInt64))))
            Assert.Contains("does not fit a 32-bit integer", Assert.Throws<TokenFactoryException>(() => f.Metadata.GetArray<int>("tokenizer.ggml.token_type")).Message);
    }
}

