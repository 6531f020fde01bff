using System.Text;
using TokenFactory.Constraints;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// A schema that applies only where the output shows its trigger (a tool call the model may or may not make): the text
/// before is the model's own, the triggered part is what the schema allows, and after it the text is free again.
/// </summary>
public sealed class TriggeredSchemaTests
{
    private static RecordingOutput Run(TransformerModel model, TriggeredSchema? triggered, int maxTokens = 40)
    {
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 256, PrefixCaching = false });
        var request = new GenerationRequest
        {
            // stories260K's greedy continuation is ", there was a little girl named Lily. She loved to play…"
            PromptTokens = TokenFactory.Tokenization.Tokenizer.FromMetadata(model.File.Metadata).Encode("Once upon a time", addSpecial: true), MaxTokens = maxTokens, Sampling = SamplingParameters.Greedy, TriggeredSchema = triggered,
        };
        return EngineTestHelpers.RunToEnd(core, request);
    }

    private static TriggeredSchema After(string trigger, string literal) =>
        new(trigger, new WrappedNode(Encoding.UTF8.GetBytes(trigger), new LiteralNode([Encoding.UTF8.GetBytes(literal)]), []));

    // The value after a wrapper's prefix may open with a little JSON whitespace, as in any grammar here.
    private static string Value(string text, int at) => text[at..].TrimStart(' ', '\n');

    [Fact]
    public void Free_text_until_the_trigger_then_the_schema_then_free_again()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        string free = Run(model, null).Written.ToString();
        int girl = free.IndexOf("girl", StringComparison.Ordinal);
        Assert.True(girl > 0, free);
        Assert.StartsWith("girl named", free[girl..]);

        string constrained = Run(model, After("girl", "[7]")).Written.ToString();
        // Identical up to and including the trigger: the schema does not touch what comes before.
        Assert.Equal(free[..(girl + 4)], constrained[..(girl + 4)]);
        // Then exactly what the schema allows, where the model wrote " named" on its own,
        string after = Value(constrained, girl + 4);
        Assert.StartsWith("[7]", after);
        // and free text after it: the answer goes on in the model's own words, not ended with the value.
        Assert.True(after.Length > 8, constrained);
    }

    [Fact]
    public void A_trigger_only_at_the_start_never_fires_later_in_the_answer()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        string free = Run(model, null).Written.ToString();
        var later = new TriggeredSchema("girl", new WrappedNode(Encoding.UTF8.GetBytes("girl"), new LiteralNode([Encoding.UTF8.GetBytes("[7]")]), []), AtStart: true);
        Assert.Equal(free, Run(model, later).Written.ToString());
        // At the start it does fire: the answer's first bytes are the trigger's.
        Assert.StartsWith(",", free);
        var first = new TriggeredSchema(",", new WrappedNode(Encoding.UTF8.GetBytes(","), new LiteralNode([Encoding.UTF8.GetBytes("[7]")]), []), AtStart: true);
        string constrained = Run(model, first).Written.ToString();
        Assert.StartsWith("[7]", Value(constrained, 1));
        Assert.StartsWith(",", constrained);
    }

    [Fact]
    public void Each_occurrence_of_the_trigger_is_constrained_afresh()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        string free = Run(model, null, 80).Written.ToString();
        const string trigger = "."; // a token of its own here, so each sentence's end fires it
        Assert.True(free.Split(trigger).Length > 2, free); // more than one sentence
        string constrained = Run(model, After(trigger, "{}"), 80).Written.ToString();
        int first = constrained.IndexOf(trigger, StringComparison.Ordinal);
        Assert.True(first >= 0, constrained);
        Assert.StartsWith("{}", Value(constrained, first + trigger.Length));
        int second = constrained.IndexOf(trigger, first + trigger.Length, StringComparison.Ordinal);
        Assert.True(second > first, constrained);
        Assert.StartsWith("{}", Value(constrained, second + trigger.Length));
    }

    [Fact]
    public void A_trigger_written_while_the_model_thinks_does_not_fire_and_one_after_its_thought_does()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        string free = Run(model, null).Written.ToString();
        int named = free.IndexOf(" named", StringComparison.Ordinal);
        Assert.True(named > 0 && free.IndexOf("girl", named, StringComparison.Ordinal) < 0, free); // "girl" only before " named"

        // Thought until " named" (the prompt opened it): the "girl" in it is the thought's text, not a call.
        var inside = After("girl", "[7]") with { Reasoning = new ReasoningBlock("<think>", " named", StartsInside: true) };
        Assert.Equal(free, Run(model, inside).Written.ToString());
        // The output opening the block itself (its first bytes are the opening tag), the same.
        var opened = After("girl", "[7]") with { Reasoning = new ReasoningBlock(", there", " named", StartsInside: false) };
        Assert.Equal(free, Run(model, opened).Written.ToString());
        // An output that does not open one is watched from its start.
        var none = After("girl", "[7]") with { Reasoning = new ReasoningBlock("<think>", " named", StartsInside: false) };
        string fired = Run(model, none).Written.ToString();
        Assert.StartsWith("[7]", Value(fired, free.IndexOf("girl", StringComparison.Ordinal) + 4));

        // After the thought the trigger fires as before: the first "." after "girl".
        var after = After(".", "{}") with { Reasoning = new ReasoningBlock("<think>", "girl", StartsInside: true) };
        string constrained = Run(model, after).Written.ToString();
        int dot = free.IndexOf('.', free.IndexOf("girl", StringComparison.Ordinal));
        Assert.Equal(free[..(dot + 1)], constrained[..(dot + 1)]);
        Assert.StartsWith("{}", Value(constrained, dot + 1));
    }
}
