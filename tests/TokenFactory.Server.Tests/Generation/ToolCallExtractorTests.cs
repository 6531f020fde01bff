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
    private static (string Content, List<TokenFactory.Server.Contracts.ToolCall> Calls, List<string> Pieces) Run(ToolCallSyntax syntax, string answer, int size, bool parallel = true, bool cut = false)
    {
        var extractor = new ToolCallExtractor(syntax, Tools(parallel));
        var content = new StringBuilder();
        var pieces = new List<string>();
        var streamed = new List<ToolCallExtractor.CallPiece>();
        for (int i = 0; i < answer.Length; i += size)
        {
            var (text, _) = extractor.Push(answer.Substring(i, Math.Min(size, answer.Length - i)));
            content.Append(text);
            pieces.Add(text);
            streamed.AddRange(extractor.TakePieces());
        }
        var (rest, _) = extractor.Flush(cut);
        content.Append(rest);
        pieces.Add(rest);
        streamed.AddRange(extractor.TakePieces());
        var calls = extractor.Calls.ToList();
        // What a stream client reassembles equals each call: one first piece with its id and name, then its arguments.
        foreach (var call in calls)
        {
            int index = streamed.Single(p => p.Id == call.Id).Index;
            var of = streamed.Where(p => p.Index == index).ToList();
            Assert.Equal(call.Function.Name, of[0].Name);
            Assert.All(of.Skip(1), p => Assert.Null(p.Id ?? p.Name));
            Assert.Equal(call.Function.Arguments, string.Concat(of.Select(p => p.Arguments)));
        }
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
    [InlineData("Calling.<tool_call>{\"name\": \"get_time\", \"argu", "Calling.<tool_call>{\"name\": \"get_time\", \"argu", 0)] // left open, not cut: text
    [InlineData("<tool_call>{\"name\": \"get_time\", \"arguments\": {}}", "", 1)] // left open but whole: read
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

    [Theory]
    // A key twice: System.Text.Json's nodes accept it at parse and throw ArgumentException when read (the request failed).
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {}, \"name\": \"get_weather\"}")]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"city\": \"Rome\"}}")]
    // Arguments as a JSON string that is not an object's text (it became the call's arguments as it was).
    [InlineData("{\"name\": \"get_weather\", \"parameters\": \"Paris\"}")]
    public void A_call_object_that_is_not_valid_stays_text(string answer)
    {
        var result = Run(ToolCallSyntax.Json, answer, answer.Length);
        Assert.Empty(result.Calls);
        Assert.Equal(answer, result.Content);
    }

    [Fact]
    public void Arguments_sent_as_the_text_of_an_object_are_taken()
    {
        const string answer = "{\"name\": \"get_weather\", \"parameters\": \"{\\\"city\\\": \\\"Paris\\\"}\"}";
        var result = Run(ToolCallSyntax.Json, answer, answer.Length);
        Assert.Equal("{\"city\": \"Paris\"}", Assert.Single(result.Calls).Function.Arguments);
    }

    private static ToolSet ManyTools(int count, string choice) => ToolSet.Parse(new JsonArray([.. Enumerable.Range(0, count).Select(i => (JsonNode)new JsonObject
    {
        ["type"] = "function",
        ["function"] = new JsonObject { ["name"] = $"tool_{i}", ["parameters"] = new JsonObject { ["type"] = "object" } },
    })]), JsonDocument.Parse(choice).RootElement, true)!;

    [Theory]
    [InlineData("hermes")]
    [InlineData("json")]
    public void A_forced_call_can_reach_any_of_many_tools(string family)
    {
        var syntax = family == "hermes" ? ToolCallSyntax.Hermes : ToolCallSyntax.Json;
        var matcher = TokenFactory.Constraints.JsonMatcher.Start(ManyTools(300, "\"required\"").ForcedCall(syntax)!);
        string call = "{\"name\": \"tool_299\", \"arguments\": {}}";
        if (family == "hermes")
            call = "<tool_call>\n" + call + "\n</tool_call>";
        // The 300th function was dropped with the alternatives past the 64th (the matcher refused its name).
        var end = matcher.Advance(Encoding.UTF8.GetBytes(call));
        Assert.NotNull(end);
        Assert.True(end.CanEnd);
    }

    [Fact]
    public void Too_many_functions_for_a_forced_call_are_a_400_naming_tools()
    {
        var e = Assert.Throws<TokenFactory.Server.Api.OpenAiException>(() => ManyTools(TokenFactory.Constraints.JsonMatcher.MaxAlternatives + 1, "\"required\"").ForcedCall(ToolCallSyntax.Hermes));
        Assert.Equal("tools", e.Param);
        // Under auto with a strict function the answer stays free, and the header says why no call is constrained.
        var strict = ToolSet.Parse(new JsonArray([.. Enumerable.Range(0, 600).Select(i => (JsonNode)new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = $"tool_{i}", ["strict"] = true, ["parameters"] = new JsonObject { ["type"] = "object" } },
        })]), null, true)!.TriggeredCall(ToolCallSyntax.Json);
        Assert.Null(strict.Schema);
        Assert.StartsWith("not-enforced; 600 functions", strict.Header);
    }

    [Fact]
    public void A_call_cut_off_by_the_length_limit_is_dropped()
    {
        const string answer = "Calling.<tool_call>{\"name\": \"get_time\", \"argu";
        for (int size = 1; size <= answer.Length; size++)
        {
            var (content, calls, pieces) = Run(ToolCallSyntax.Hermes, answer, size, cut: true);
            Assert.Equal("Calling.", content);
            Assert.Empty(calls);
            Assert.All(pieces, p => Assert.DoesNotContain("<", p));
        }
    }

    [Fact]
    public void Arguments_stream_in_pieces_as_they_are_generated()
    {
        var extractor = new ToolCallExtractor(ToolCallSyntax.Hermes, Tools());
        var pieces = new List<ToolCallExtractor.CallPiece>();
        foreach (var chunk in TwoCalls.Chunk(4))
        {
            extractor.Push(new string(chunk));
            pieces.AddRange(extractor.TakePieces());
        }
        extractor.Flush();
        pieces.AddRange(extractor.TakePieces());
        var weather = pieces.Where(p => p.Index == 0).ToList();
        Assert.Equal("get_weather", weather[0].Name);
        Assert.True(weather.Count > 5, $"arguments went out in {weather.Count - 1} pieces, not whole"); // {"city": "Paris", "days": 2} in 4-character chunks
        Assert.Equal("{\"city\": \"Paris\", \"days\": 2}", string.Concat(weather.Select(p => p.Arguments)));
    }

    [Fact]
    public void A_call_cut_off_inside_its_arguments_is_no_call_and_malformed_arguments_are_given_back_as_text()
    {
        const string cut = "Calling.<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"U";
        const string malformed = "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": }}\n</tool_call>";
        for (int size = 1; size <= malformed.Length; size++)
        {
            var (content, calls, _) = Run(ToolCallSyntax.Hermes, cut, size, cut: true);
            Assert.Equal("Calling.", content);
            Assert.Empty(calls); // its arguments never became a whole object
            (content, calls, _) = Run(ToolCallSyntax.Hermes, malformed, size);
            Assert.Empty(calls);
            Assert.Equal(malformed, content);
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
    [InlineData("""[{"type": "function", "function": {"name": "f", "strict": "yes"}}]""", null, "tools[0].function.strict")]
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
    public void A_triggered_call_opens_where_the_model_opens_one_and_takes_its_own_keys()
    {
        var args = new[] { ("f", (TokenFactory.Constraints.SchemaNode)TokenFactory.Constraints.JsonSchemaCompiler.AnyObject) };
        static bool Ends(TokenFactory.Engine.TriggeredSchema t, string text) =>
            TokenFactory.Constraints.JsonMatcher.Start(t.Schema).Advance(System.Text.Encoding.UTF8.GetBytes(text)) is { MustEnd: true };
        // DeepSeek: each call from its own call-begin, so a block can hold several (the block markers stay free).
        var deepSeek = ToolCallSyntax.DeepSeek.Triggered(args, 16)!;
        Assert.Equal("<｜tool▁call▁begin｜>", deepSeek.Trigger);
        Assert.True(Ends(deepSeek, "<｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": 1}<｜tool▁call▁end｜>"));
        // The generic family: Llama's "parameters" as well as "arguments", from an answer that opens with {.
        var generic = ToolCallSyntax.Json.Triggered(args, 1)!;
        Assert.True(generic.AtStart);
        Assert.True(Ends(generic, "{\"name\": \"f\", \"parameters\": {\"a\": 1}}"));
        Assert.True(Ends(generic, "{\"name\": \"f\", \"arguments\": {\"a\": 1}}"));
        Assert.Null(ToolCallSyntax.Harmony.Triggered(args, 1));
    }

    [Fact]
    public void A_forced_call_s_arguments_schema_that_cannot_be_enforced_is_refused_naming_the_keyword()
    {
        var tools = ToolSet.Parse(JsonNode.Parse("""[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}]""")!.AsArray(),
            JsonDocument.Parse("\"required\"").RootElement, null)!;
        var e = Assert.Throws<TokenFactory.Server.Api.OpenAiException>(() => tools.ForcedCall(ToolCallSyntax.Hermes));
        Assert.Equal("tools[0].function.parameters.properties.n.minimum", e.Param);
    }

    private static readonly ToolCallSyntax[] AllFamilies =
        [ToolCallSyntax.Hermes, ToolCallSyntax.MistralArgs, ToolCallSyntax.MistralArray, ToolCallSyntax.DeepSeek, ToolCallSyntax.CommandR, ToolCallSyntax.Functionary, ToolCallSyntax.Json,
         ToolCallSyntax.Gemma4];

    [Theory]
    [InlineData("meetkai-functionary-medium-v3.1", "functionary")]
    [InlineData("CohereForAI-c4ai-command-r7b-12-2024-tool_use", "command-r")]
    public void The_family_is_read_from_the_projects_own_template_fixtures(string template, string family)
    {
        string source = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "TokenFactory.Core.Tests", "Fixtures", "chat-templates", template + ".jinja"));
        Assert.Equal(family, ToolCallSyntax.Detect(source).Name);
    }

    [Theory]
    [InlineData("Mistral-Small-3.2-24B-Instruct-2506", "mistral")]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407", "mistral-array")]
    [InlineData("Qwen-Qwen2.5-7B-Instruct", "hermes")]
    [InlineData("Qwen3-Coder", "hermes")]
    [InlineData("nvidia-Nemotron-3-Nano", "hermes")]
    [InlineData("ibm-granite-granite-4.0", "hermes")]
    [InlineData("deepseek-ai-DeepSeek-V3.1", "deepseek")]
    [InlineData("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek")]
    [InlineData("meta-llama-Llama-3.1-8B-Instruct", "json")]
    [InlineData("google-gemma-4-31B-it", "gemma4")]
    [InlineData("Qwen3.5-4B", "hermes")] // its <function=…><parameter=…> bodies inside <tool_call>
    public void The_family_is_read_from_the_real_template(string template, string family)
    {
        string source = File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", template + ".jinja"));
        Assert.Equal(family, ToolCallSyntax.Detect(source).Name);
    }

    public static TheoryData<string, string, string, string> Families() => new()
    {
        // family, answer, the content it leaves, "name:arguments|…" of its calls
        { "mistral", "Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Lyon\"}[TOOL_CALLS]get_time[ARGS]{}", "Sure.", "get_weather:{\"city\":\"Lyon\"}|get_time:{}" },
        { "mistral-array", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}, {\"name\": \"get_time\", \"arguments\": {}}]", "", "get_weather:{\"city\":\"Lyon\"}|get_time:{}" },
        { "deepseek", "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Lyon\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>", "Checking.", "get_weather:{\"city\":\"Lyon\"}" },
        { "deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Lyon\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", "", "get_weather:{\"city\":\"Lyon\"}" },
        { "hermes", "<tool_call>\n<function=get_weather>\n<parameter=city>\nLyon\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>", "", "get_weather:{\"city\":\"Lyon\",\"days\":3}" },
        { "json", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lyon\"}}", "", "get_weather:{\"city\":\"Lyon\"}" },
        { "json", "get_weather.call(city=\"Lyon\", days=3, metric=True, note=None)", "", "get_weather:{\"city\":\"Lyon\",\"days\":3,\"metric\":true,\"note\":null}" },
        { "json", "get_time.call()", "", "get_time:{}" },
        { "json", "get_weather is a tool I could call.", "get_weather is a tool I could call.", "" },
        { "json", "get_weather.call(city=Lyon)", "get_weather.call(city=Lyon)", "" },
        { "functionary", "Let me see.<function=get_weather>{\"city\": \"Lyon\"}</function><function=get_time>{}</function>", "Let me see.", "get_weather:{\"city\":\"Lyon\"}|get_time:{}" },
        { "gemma4", "Checking.<|tool_call>call:get_weather{city:<|\"|>Lyon, {FR}<|\"|>,days:3,units:{metric:true,list:[1,2.5,<|\"|>x<|\"|>]},note:null}<tool_call|><|tool_call>call:get_time{}<tool_call|>",
            "Checking.", "get_weather:{\"city\":\"Lyon, {FR}\",\"days\":3,\"units\":{\"metric\":true,\"list\":[1,2.5,\"x\"]},\"note\":null}|get_time:{}" },
        { "gemma4", "<|tool_call>call:launch{}<tool_call|>", "<|tool_call>call:launch{}<tool_call|>", "" }, // no such tool: given back
        { "gemma4", "<|tool_call>call:get_time{zone:<|\"|>CET}<tool_call|>", "<|tool_call>call:get_time{zone:<|\"|>CET}<tool_call|>", "" }, // unclosed string
        { "command-r", "I will check both.<|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Lyon\"}},\n    {\"tool_call_id\": \"1\", \"tool_name\": \"get_time\", \"parameters\": {}}\n]<|END_ACTION|>", "I will check both.", "get_weather:{\"city\":\"Lyon\"}|get_time:{}" },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void Each_family_s_calls_are_read_in_pieces_of_every_size(string family, string answer, string content, string calls)
    {
        var syntax = AllFamilies.Single(s => s.Name == family);
        for (int size = 1; size <= answer.Length; size++)
        {
            var result = Run(syntax, answer, size);
            Assert.Equal(content, result.Content);
            Assert.Equal(calls, string.Join("|", result.Calls.Select(c => $"{c.Function.Name}:{JsonNode.Parse(c.Function.Arguments!)!.ToJsonString()}")));
            Assert.All(result.Pieces, p => Assert.DoesNotContain("TOOL_CALLS", p));
            Assert.All(result.Pieces, p => Assert.DoesNotContain("｜", p));
            Assert.All(result.Pieces, p => Assert.DoesNotContain("ACTION", p));
            Assert.All(result.Pieces, p => Assert.DoesNotContain("function", p));
        }
    }

    [Fact]
    public void Gemma_4_arguments_without_a_json_form_are_text_and_deep_nesting_is_not_a_call()
    {
        var (content, calls, _) = Run(ToolCallSyntax.Gemma4, "<|tool_call>call:get_weather{a:NaN,b:Infinity,c:1e999,d:-0.5}<tool_call|>", 7);
        Assert.Equal("", content);
        Assert.Equal("""{"a":"NaN","b":"Infinity","c":"1e999","d":-0.5}""", Assert.Single(calls).Function.Arguments);
        // Far deeper than any real call: given back as text, without exhausting the stack.
        string deep = "<|tool_call>call:get_weather{x:" + new string('[', 5000) + new string(']', 5000) + "}<tool_call|>";
        var result = Run(ToolCallSyntax.Gemma4, deep, deep.Length);
        Assert.Equal(deep, result.Content);
        Assert.Empty(result.Calls);
    }

    [Theory]
    [InlineData("hermes", "<tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}\n</tool_call>")]
    [InlineData("mistral", "[TOOL_CALLS]get_time[ARGS]{\"zone\":\"CET\"}")]
    [InlineData("mistral-array", "[TOOL_CALLS][{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}]")]
    [InlineData("deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"zone\":\"CET\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>")]
    [InlineData("json", "{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}")]
    [InlineData("functionary", "<function=get_time>{\"zone\":\"CET\"}</function>")]
    [InlineData("command-r", "<|START_ACTION|>[{\"tool_name\":\"get_time\",\"parameters\":{\"zone\":\"CET\"}}]<|END_ACTION|>")]
    [InlineData("gemma4", "<|tool_call>\n{\"name\":\"get_time\",\"arguments\":{\"zone\":\"CET\"}}\n<tool_call|>")]
    public void A_forced_call_s_grammar_allows_the_family_s_call_and_the_reader_reads_it_back(string family, string call)
    {
        var syntax = AllFamilies.Single(s => s.Name == family);
        var tools = ToolSet.Parse(JsonNode.Parse("""
            [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": false}}}]
            """)!.AsArray(), JsonDocument.Parse("\"required\"").RootElement, null)!;
        var grammar = tools.ForcedCall(syntax)!;
        var end = TokenFactory.Constraints.JsonMatcher.Start(grammar).Advance(Encoding.UTF8.GetBytes(call));
        Assert.True(end is { MustEnd: true }, call);
        Assert.Null(TokenFactory.Constraints.JsonMatcher.Start(grammar).Advance(Encoding.UTF8.GetBytes(call.Replace("CET", "PST"))));
        var extractor = new ToolCallExtractor(syntax, tools);
        var (content, calls) = extractor.Push(call);
        var (rest, last) = extractor.Flush();
        Assert.Equal("", content + rest);
        var read = Assert.Single(calls.Concat(last));
        Assert.Equal("get_time", read.Function.Name);
        Assert.Equal("CET", (string?)JsonNode.Parse(read.Function.Arguments!)!["zone"]);
    }
}
