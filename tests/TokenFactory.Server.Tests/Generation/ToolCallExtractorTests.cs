using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Generation.Tools;

namespace TokenFactory.Server.Tests.Generation;

public sealed class ToolCallExtractorTests
{
    private static ToolSet Tools(bool parallel = true) => ToolSet.Parse(JsonNode.Parse("""
        [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "get_time"}}]
        """)!.AsArray(), null, parallel)!;

    /// <summary>The answer fed in pieces of <paramref name="size"/> characters, as a stream delivers it.</summary>
    private static (string Content, List<TokenFactory.Server.Contracts.ToolCall> Calls, List<string> Pieces) Run(ToolCallSyntax syntax, string answer, int size, bool parallel = true)
    {
        var extractor = new ToolCallExtractor(syntax, Tools(parallel));
        var content = new StringBuilder();
        var pieces = new List<string>();
        var calls = new List<TokenFactory.Server.Contracts.ToolCall>();
        for (int i = 0; i < answer.Length; i += size)
        {
            var (text, found) = extractor.Push(answer.Substring(i, Math.Min(size, answer.Length - i)));
            content.Append(text);
            pieces.Add(text);
            calls.AddRange(found);
        }
        var (rest, last) = extractor.Flush();
        content.Append(rest);
        pieces.Add(rest);
        calls.AddRange(last);
        Assert.Equal(extractor.Calls.Select(c => c.Id), calls.Select(c => c.Id)); // each call reported once, in order
        return (content.ToString(), calls, pieces);
    }

    private const string TwoCalls =
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n";

    [Fact]
    public void Hermes_calls_come_out_whole_in_pieces_of_every_size_and_no_markup_reaches_the_content()
    {
        for (int size = 1; size <= TwoCalls.Length; size++)
        {
            var (content, calls, pieces) = Run(ToolCallSyntax.Hermes, TwoCalls, size);
            Assert.Equal("Let me check.", content);
            Assert.All(pieces, p => Assert.DoesNotContain("<", p));
            Assert.Equal(["get_weather", "get_time"], calls.Select(c => c.Function.Name));
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"city": "Paris", "days": 2}"""), JsonNode.Parse(calls[0].Function.Arguments!)));
            Assert.Equal("{}", calls[1].Function.Arguments);
            Assert.All(calls, c => Assert.Matches("^call_[0-9a-f]{24}$", c.Id));
        }
    }

    [Theory]
    [InlineData("Plain text with a < sign and <tool> words.", "Plain text with a < sign and <tool> words.", 0)]
    [InlineData("<tool_call>{\"name\": \"launch\", \"arguments\": {}}</tool_call>", "<tool_call>{\"name\": \"launch\", \"arguments\": {}}</tool_call>", 0)] // no such tool: given back
    [InlineData("<tool_call>not json</tool_call> then text", "<tool_call>not json</tool_call> then text", 0)]
    [InlineData("Calling.<tool_call>{\"name\": \"get_time\", \"argu", "Calling.", 0)] // cut off by the length limit: the half call is dropped
    [InlineData("<tool_call>{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}</tool_call>", "", 1)]
    public void Hermes_text_that_is_not_a_whole_call_for_these_tools_stays_content(string answer, string content, int calls)
    {
        for (int size = 1; size <= answer.Length; size++)
        {
            var result = Run(ToolCallSyntax.Hermes, answer, size);
            Assert.Equal(content, result.Content);
            Assert.Equal(calls, result.Calls.Count);
        }
    }

    [Theory]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}", "", 1)]
    [InlineData("  [{\"name\": \"get_weather\", \"arguments\": {}}, {\"name\": \"get_time\", \"parameters\": {}}]", "", 2)]
    [InlineData("{\"answer\": 42}", "{\"answer\": 42}", 0)]
    [InlineData("The weather is fine {really}.", "The weather is fine {really}.", 0)]
    public void The_generic_syntax_takes_an_answer_that_is_only_calls(string answer, string content, int calls)
    {
        for (int size = 1; size <= answer.Length; size++)
        {
            var result = Run(ToolCallSyntax.Json, answer, size);
            Assert.Equal(content, result.Content);
            Assert.Equal(calls, result.Calls.Count);
        }
    }

    [Fact]
    public void Without_parallel_calls_only_the_first_is_kept()
    {
        var (_, calls, _) = Run(ToolCallSyntax.Hermes, TwoCalls, 7, parallel: false);
        Assert.Equal("get_weather", Assert.Single(calls).Function.Name);
    }

    [Theory]
    [InlineData("""[{"type": "function"}]""", null, "tools[0]")]
    [InlineData("""[{"type": "function", "function": {"name": "a b"}}]""", null, "tools[0].function.name")]
    [InlineData("""[{"type": "function", "function": {"name": "f", "extra": 1}}]""", null, "tools[0].function.extra")]
    [InlineData("""[{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]""", null, "tools[1].function.name")]
    [InlineData("""[{"type": "function", "function": {"name": "f", "parameters": "x"}}]""", null, "tools[0].function.parameters")]
    [InlineData("""[{"type": "function", "function": {"name": "f"}}]""", "\"sometimes\"", "tool_choice")]
    [InlineData("""[{"type": "function", "function": {"name": "f"}}]""", """{"type": "function", "function": {"name": "g"}}""", "tool_choice.function.name")]
    [InlineData("[]", "\"required\"", "tool_choice")]
    public void Bad_tools_and_choices_are_400s_naming_the_field(string tools, string? choice, string param)
    {
        var e = Assert.Throws<TokenFactory.Server.Api.OpenAiException>(() =>
            ToolSet.Parse(JsonNode.Parse(tools)!.AsArray(), choice is null ? null : JsonDocument.Parse(choice).RootElement, null));
        Assert.Equal(400, e.Status);
        Assert.Equal(param, e.Param);
    }

    [Fact]
    public void A_forced_call_s_arguments_schema_that_cannot_be_enforced_is_refused_naming_the_keyword()
    {
        var tools = ToolSet.Parse(JsonNode.Parse("""[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}]""")!.AsArray(),
            JsonDocument.Parse("\"required\"").RootElement, null)!;
        var e = Assert.Throws<TokenFactory.Server.Api.OpenAiException>(() => tools.ForcedCall(ToolCallSyntax.Hermes));
        Assert.Equal("tools[0].function.parameters.properties.n.minimum", e.Param);
    }
}
