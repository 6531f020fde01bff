using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Generation.Tools;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Tests.Generation;

public sealed class ChoiceReaderTests
{
    /// <summary>Tokens 0-2 Gemma 4's markers as control tokens (decoded output leaves them out), the rest plain text.</summary>
    private sealed class MarkerTokenizer : ITokenizer
    {
        private static readonly string[] Control = ["<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|\"|>"];

        public Vocabulary Vocabulary => throw new NotSupportedException();
        public int VocabSize => 100;
        public int? Bos => null;
        public int? Eos => null;
        public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false) => throw new NotSupportedException();
        public int[] Encode(string text, bool addSpecial, bool parseSpecial, IReadOnlyList<Range> textOnly) => throw new NotSupportedException();
        public bool MentionsSpecialToken(string text) => throw new NotSupportedException();
        public string Decode(ReadOnlySpan<int> ids) => throw new NotSupportedException();
        public string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial) => throw new NotSupportedException();
        public byte[] TokenBytes(int id, bool special = true) =>
            id < Control.Length ? (special ? System.Text.Encoding.UTF8.GetBytes(Control[id]) : []) : [(byte)'x'];
        public string TokenPiece(int id, bool special = true) => System.Text.Encoding.UTF8.GetString(TokenBytes(id, special));
        public bool IsEndOfGeneration(int id) => false;
    }

    private static GenerationUpdate Text(string text) => new() { Token = 50, Text = text };
    private static GenerationUpdate Control(int token) => new() { Token = token, Text = "" };

    [Fact]
    public void Gemma_4_s_markers_written_as_control_tokens_still_split_thinking_and_read_calls()
    {
        var tools = ToolSet.Parse(System.Text.Json.Nodes.JsonNode.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
            """)!.AsArray(), null, true)!;
        var reader = new ChoiceReader(new MarkerTokenizer(), new ReasoningSplitter(false, ReasoningSplitter.GemmaOpen, ReasoningSplitter.GemmaClose),
            new ToolCallExtractor(ToolCallSyntax.Gemma4, tools), ToolCallSyntax.Gemma4);
        string reasoning = "", content = "";
        foreach (var update in new[]
        {
            Control(0), Text("thought\nCheck the weather."), Control(1), Text("Let me look."),
            Control(2), Text("call:get_weather{city:"), Control(4), Text("Oslo"), Control(4), Text("}"), Control(3),
            Control(0), // a channel marker once the answer is content: a control token, so it stays out of the text
        })
        {
            var piece = reader.Read(update);
            reasoning += piece.Reasoning;
            content += piece.Content;
        }
        var last = reader.Finish(cut: false);
        reasoning += last.Reasoning;
        content += last.Content;
        Assert.Equal("Check the weather.", reasoning);
        Assert.Equal("Let me look.", content);
        var call = Assert.Single(reader.Calls);
        Assert.Equal("get_weather", call.Function.Name);
        Assert.Equal("""{"city":"Oslo"}""", call.Function.Arguments);
    }
}
