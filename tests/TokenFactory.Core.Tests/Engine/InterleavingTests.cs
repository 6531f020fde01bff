using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Tests.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// A sequence's results, bit for bit, do not depend on when another sequence joins the engine or leaves it: prefill
/// chunks and decodes of the other land in different steps of this one each time. Stepped on this thread, so every
/// interleaving is the one asked for (the asynchronous engine's tests get whichever the scheduler happens to make).
/// </summary>
public sealed class InterleavingTests
{
    [Theory]
    [InlineData("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1")]
    [InlineData("synth-nemotron_h_moe-nemotron-h-moe-tiny-Q8_0-seed1")]
    [InlineData("synth-llama-tiny-Q8_0-seed1")]
    [InlineData("synth-qwen3moe-qwen3moe-tiny-Q8_0-seed1")]
    [InlineData("synth-llama-tiny-IQ4_NL-seed1")]
    [InlineData("synth-llama-tiny-MXFP4-seed1")]
    [InlineData("synth-mistral3-tiny-Q8_0-seed1")]
    [InlineData("synth-gemma3-gemma3-tiny-Q8_0-seed1")]
    [InlineData("synth-gpt-oss-gpt-oss-tiny-MXFP4-seed1")]
    [InlineData("synth-qwen35moe-qwen35moe-tiny-Q8_0-seed1")]
    [InlineData("synth-gemma4-gemma4-tiny-Q8_0-seed1")]
    [InlineData("synth-gemma4-gemma4-moe-tiny-Q8_0-seed1")]
    public void A_sequence_gets_the_same_bits_whenever_another_joins_or_leaves(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        var keep = Greedy(Prompt(30, 5, model.VocabSize), 40) with { Logprobs = 3 };
        var alone = Reference(model, keep);
        using var core = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxRunningSequences = 4 });
        foreach (int joinAt in new[] { 0, 1, 2, 7 })
        {
            foreach (int otherPrompt in new[] { 1, 30, 100 })
            {
                var kept = new RecordingOutput();
                core.Add(core.CreateSequence(keep, kept));
                var other = Greedy(Prompt(otherPrompt, joinAt + otherPrompt, model.VocabSize), 9) with { Logprobs = 2 };
                for (int step = 0; core.Step(); step++)
                {
                    if (step == joinAt)
                        core.Add(core.CreateSequence(other, new RecordingOutput()));
                }
                Assert.Equal(alone.Tokens, kept.Tokens);
                Assert.Equal(alone.Logprobs, kept.Logprobs);
            }
        }
    }
}
