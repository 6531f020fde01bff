using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

public sealed class ReasoningSplitterTests
{
    public static TheoryData<bool, string, string, string> Cases => new()
    {
        // Nemotron 3: the prompt ends with "<think>\n", the model writes its thoughts, "\n</think>\n", then the answer.
        { true, "The user greets me.\nI should greet back.\n</think>\n\nHello! How can I help?", "The user greets me.\nI should greet back.", "Hello! How can I help?" },
        // DeepSeek-R1 style: the output itself opens the block.
        { false, "<think>\nshort thought\n</think>\n\nAnswer.", "short thought", "Answer." },
        { false, "  <think>x</think>y", "x", "y" },
        // No reasoning at all: the text is untouched, leading whitespace included.
        { false, "  Plain answer with </think> inside.", "", "  Plain answer with </think> inside." },
        { false, "<thinking is not a tag", "", "<thinking is not a tag" },
        // Cut off while thinking: everything is reasoning, trailing whitespace and a half tag kept as written.
        { true, "still thinking about it\n</thi", "still thinking about it\n</thi", "" },
        { true, "thinking   \n", "thinking", "" },
        // Thinking switched off by the template ("<think></think>" in the prompt) is not an open block.
        { false, "Direct answer.", "", "Direct answer." },
        { true, "</think>Only an answer.", "", "Only an answer." },
        { false, "", "", "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Splits_the_same_way_whatever_the_chunking(bool startsInReasoning, string output, string reasoning, string content) =>
        SplitterChecks.SplitsTheSameWhateverTheChunking(() => new ReasoningSplitter(startsInReasoning), output, reasoning, content);

    [Fact]
    public void Never_emits_part_of_a_closing_tag_as_reasoning()
    {
        var splitter = new ReasoningSplitter(startsInReasoning: true);
        Assert.Equal(("abc", ""), splitter.Push("abc </"));
        Assert.Equal(("", ""), splitter.Push("think"));
        Assert.Equal(("", "answer"), splitter.Push(">answer"));
    }

    [Theory]
    [InlineData("<|im_start|>assistant\n<think>\n", true)]
    [InlineData("<|im_start|>assistant\n<think></think>", false)]
    [InlineData("<think>a</think>b<|im_start|>assistant\n", false)]
    [InlineData("<|im_start|>assistant\n", false)]
    public void Knows_when_the_prompt_leaves_a_think_block_open(string prompt, bool open)
        => Assert.Equal(open, ReasoningSplitter.PromptOpensReasoning(prompt));
}
