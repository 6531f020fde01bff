using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

public sealed class HarmonySplitterTests
{
    private const string Call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>";

    public static TheoryData<bool, string, string, string> Cases => new()
    {
        // The usual answer: thoughts on analysis, then the final message (the <|return|> that ends it is not rendered).
        { true, "<|channel|>analysis<|message|>The user says hi.<|end|><|start|>assistant<|channel|>final<|message|>Hello!", "The user says hi.", "Hello!" },
        // A tool call after some analysis, its recipient after the channel and a constraint, then generation stops at <|call|>.
        { true, "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}",
            "Need weather.", Call },
        // The recipient before the channel, as the model may also write it; <|call|> rendered is an end too.
        { true, "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\":\"Paris\"}<|call|>", "", Call },
        // Without a tool-call reader the call's body is content, not lost.
        { false, "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}", "", "{\"city\":\"Paris\"}" },
        // A preamble on commentary (to no one) is content, followed by the final answer.
        { true, "<|channel|>commentary<|message|>Let me check. <|end|><|start|>assistant<|channel|>final<|message|>Done.", "", "Let me check. Done." },
        // Cut off while thinking: only reasoning.
        { true, "<|channel|>analysis<|message|>still thinking <|en", "still thinking <|en", "" },
        // Cut off inside a header: markup, dropped.
        { true, "<|channel|>analysis<|message|>x<|end|><|start|>assist", "x", "" },
        // Not harmony at all (a grammar-constrained JSON answer): the text is the content, untouched.
        { true, "{\"a\": [1, 2]}", "", "{\"a\": [1, 2]}" },
        { true, "  plain <|end|> text", "", "  plain  text" },
        { true, "", "", "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Splits_the_same_way_whatever_the_chunking(bool callsAsMarkup, string output, string reasoning, string content) =>
        SplitterChecks.SplitsTheSameWhateverTheChunking(() => new HarmonySplitter(callsAsMarkup), output, reasoning, content, trials: 60, maxPiece: 7);

    [Fact]
    public void Streams_reasoning_and_content_as_they_come_never_a_marker()
    {
        var splitter = new HarmonySplitter(callsAsMarkup: true);
        Assert.Equal(("", ""), splitter.Push("<|channel|>analy"));
        Assert.Equal(("thin", ""), splitter.Push("sis<|message|>thin"));
        Assert.Equal(("king", ""), splitter.Push("king<|e"));
        Assert.Equal(("", ""), splitter.Push("nd|><|start|>assistant<|channel|>final<|message|>"));
        Assert.Equal(("", "Hi"), splitter.Push("Hi"));
        Assert.Equal(("", ""), splitter.Flush());
    }

    [Fact]
    public void Recognises_the_gpt_oss_template()
    {
        string source = File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "openai-gpt-oss-120b.jinja"));
        Assert.True(HarmonySplitter.IsHarmonyTemplate(source));
        Assert.False(HarmonySplitter.IsHarmonyTemplate(ChatTemplate.ChatMlSource));
    }
}
