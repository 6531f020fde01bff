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

    public static TheoryData<string, string, string> GemmaCases => new()
    {
        // Gemma 4 with thinking on: its channel opens the answer, the thoughts, the channel closes, the answer.
        { "<|channel>thought\nThe user asks the time.\n<channel|>It is noon.", "The user asks the time.", "It is noon." },
        { "Just an answer, no <channel|> opened.", "", "Just an answer, no <channel|> opened." },
        { "<|channel>thought\ncut off mid <chan", "cut off mid <chan", "" },
        { "<think>not Gemma's tag</think>", "", "<think>not Gemma's tag</think>" },
    };

    [Theory]
    [MemberData(nameof(GemmaCases))]
    public void Gemma_4_s_thinking_channel_splits_the_same_way_whatever_the_chunking(string output, string reasoning, string content) =>
        SplitterChecks.SplitsTheSameWhateverTheChunking(
            () => new ReasoningSplitter(false, ReasoningSplitter.GemmaOpen, ReasoningSplitter.GemmaClose), output, reasoning, content);

    [Theory]
    [InlineData("google-gemma-4-31B-it", ReasoningSplitter.GemmaOpen, ReasoningSplitter.GemmaClose)]
    [InlineData("Qwen3.5-4B", ReasoningSplitter.Open, ReasoningSplitter.Close)]
    [InlineData("nvidia-Nemotron-3-Nano", ReasoningSplitter.Open, ReasoningSplitter.Close)]
    public void The_tags_are_read_from_the_real_template(string template, string open, string close)
    {
        string source = File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", template + ".jinja"));
        Assert.Equal((open, close), ReasoningSplitter.TagsFor(source));
        // Gemma 4's generation prompt with thinking off closes an empty channel: not an open block.
        Assert.False(ReasoningSplitter.PromptOpensReasoning("<|turn>model\n<|channel>thought\n<channel|>", ReasoningSplitter.GemmaOpen));
    }

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
    // A user asking about the tag leaves nothing open: the template's generation prompt comes after it.
    [InlineData("<|im_start|>user\nWhat does <think> mean?<|im_end|>\n<|im_start|>assistant\n", false)]
    [InlineData("<|im_start|>user\nWhat does <think> mean?<|im_end|>\n<|im_start|>assistant\n<think>\n", true)]
    public void Knows_when_the_prompt_leaves_a_think_block_open(string prompt, bool open)
        => Assert.Equal(open, ReasoningSplitter.PromptOpensReasoning(prompt));
}
