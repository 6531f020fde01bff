using System.Text;
using System.Text.Json;
using TokenFactory.Constraints;

namespace TokenFactory.Server.Generation.Tools;

/// <summary>
/// How a model family writes a tool call, detected from its chat template (docs/server.md has the table):
/// <list type="bullet">
/// <item>Hermes/Qwen/Granite/Nemotron: <c>&lt;tool_call&gt;</c> … <c>&lt;/tool_call&gt;</c> around a JSON object, or around
/// Qwen3-Coder/Nemotron's <c>&lt;function=name&gt;&lt;parameter=p&gt;value&lt;/parameter&gt;&lt;/function&gt;</c>;</item>
/// <item>Mistral: <c>[TOOL_CALLS]name[ARGS]{…}</c> (v11 templates), or <c>[TOOL_CALLS][{…}, …]</c> (earlier ones);</item>
/// <item>DeepSeek: <c>&lt;｜tool▁call▁begin｜&gt;name&lt;｜tool▁sep｜&gt;{…}&lt;｜tool▁call▁end｜&gt;</c> (V3.1; R1's
/// <c>function&lt;｜tool▁sep｜&gt;name</c> + a json code block too), inside the calls-begin/-end tokens;</item>
/// <item>Command R7B: <c>&lt;|START_ACTION|&gt;[{"tool_call_id": "0", "tool_name": …, "parameters": {…}}, …]&lt;|END_ACTION|&gt;</c>;</item>
/// <item>Functionary v3.1: <c>&lt;function=name&gt;{…}&lt;/function&gt;</c>;</item>
/// <item>gpt-oss (harmony): a message on the commentary channel to <c>functions.name</c> whose body is the arguments;</item>
/// <item>Gemma 4: <c>&lt;|tool_call&gt;call:name{key:value,…}&lt;tool_call|&gt;</c>, keys bare, strings between <c>&lt;|"|&gt;</c> marks;</item>
/// <item>anything else (Llama 3.x among them): the whole answer is a JSON call object or an array of them.</item>
/// </list>
/// </summary>
public sealed class ToolCallSyntax
{
    public static readonly ToolCallSyntax Hermes = new("hermes", "<tool_call>", "</tool_call>", null, []);
    public static readonly ToolCallSyntax MistralArgs = new("mistral", "[TOOL_CALLS]", null, "[ARGS]", []);
    public static readonly ToolCallSyntax MistralArray = new("mistral-array", "[TOOL_CALLS]", null, null, []);
    public static readonly ToolCallSyntax DeepSeek = new("deepseek", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>",
        ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"]);
    public static readonly ToolCallSyntax CommandR = new("command-r", "<|START_ACTION|>", "<|END_ACTION|>", null, [], nameKey: "tool_name", argumentsKey: "parameters");
    public static readonly ToolCallSyntax Functionary = new("functionary", "<function=", "</function>", ">", []);
    public static readonly ToolCallSyntax Json = new("json", null, null, null, []);
    /// <summary>
    /// gpt-oss's harmony format: a call is a message <c>&lt;|channel|&gt;commentary to=functions.NAME &lt;|constrain|&gt;json&lt;|message|&gt;{…}</c>,
    /// which <see cref="Chat.HarmonySplitter"/> hands on in the Hermes markup this syntax then reads.
    /// </summary>
    public static readonly ToolCallSyntax Harmony = new("harmony", "<tool_call>", "</tool_call>", null, []);
    /// <summary>Gemma 4's calls (<see cref="GemmaArguments"/> reads their arguments); a forced call is written as a JSON object inside the markers.</summary>
    public static readonly ToolCallSyntax Gemma4 = new("gemma4", "<|tool_call>", "<tool_call|>", null, [], markers: [GemmaArguments.Quote]);

    private ToolCallSyntax(string name, string? open, string? close, string? separator, string[] layout, string nameKey = "name", string argumentsKey = "arguments",
        string[]? markers = null)
    {
        _markers = markers ?? [];
        Name = name;
        Open = open;
        Close = close;
        Separator = separator;
        Layout = layout;
        NameKey = nameKey;
        ArgumentsKey = argumentsKey;
    }

    private readonly string[] _markers; // inside a call (Gemma 4's string marks): added back like the markup, never dropped

    /// <summary>The key of the function's name in a call object (<c>tool_name</c> for Command R).</summary>
    public string NameKey { get; }

    /// <summary>The key of the arguments in a call object this family writes (<c>parameters</c> for Command R); both are read.</summary>
    public string ArgumentsKey { get; }

    /// <summary>The calls are a JSON array inside one pair of markers (Mistral's older templates, Command R).</summary>
    public bool CallsInArray => this == MistralArray || this == CommandR;

    public string Name { get; }
    /// <summary>What opens each call (null: the answer itself is the JSON).</summary>
    public string? Open { get; }
    /// <summary>What closes each call; null when the call ends where its JSON value does.</summary>
    public string? Close { get; }
    /// <summary>Between the function's name and its arguments (the name is then not inside the JSON).</summary>
    public string? Separator { get; }
    /// <summary>Markup around the calls that is neither content nor a call (dropped).</summary>
    public IReadOnlyList<string> Layout { get; }

    /// <summary>
    /// The text of <paramref name="token"/> when it is one of this family's markers and a control token (Mistral's
    /// <c>[TOOL_CALLS]</c>, DeepSeek's tool tokens): decoded output leaves control tokens out, so the reader adds them back.
    /// </summary>
    public string MarkerOf(Tokenization.ITokenizer tokenizer, int token)
    {
        if (token < 0 || token >= tokenizer.VocabSize || tokenizer.TokenBytes(token, special: false).Length > 0)
            return "";
        string text = tokenizer.TokenPiece(token, special: true);
        return text == Open || text == Close || text == Separator || Layout.Contains(text) || _markers.Contains(text) ? text : "";
    }

    public static ToolCallSyntax Detect(string template) =>
        Chat.HarmonySplitter.IsHarmonyTemplate(template) ? Harmony
        : template.Contains("<|tool_call>", StringComparison.Ordinal) && template.Contains("<tool_call|>", StringComparison.Ordinal) ? Gemma4
        : template.Contains("<tool_call>", StringComparison.Ordinal) ? Hermes
        : template.Contains("[TOOL_CALLS]", StringComparison.Ordinal) ? (template.Contains("[ARGS]", StringComparison.Ordinal) ? MistralArgs : MistralArray)
        : template.Contains("tool▁call▁begin", StringComparison.Ordinal) ? DeepSeek
        : template.Contains("<|START_ACTION|>", StringComparison.Ordinal) ? CommandR
        : template.Contains("<function=", StringComparison.Ordinal) && template.Contains("</function>", StringComparison.Ordinal) ? Functionary
        : Json;

    /// <summary>
    /// What opens a call in the model's own output, and the grammar of a call from there on (<see cref="Forced"/>'s, whose
    /// text starts with the trigger): for strict functions under <c>tool_choice: auto</c>, the answer is free until the
    /// model opens a call, and the call then follows its schema. A family whose calls have no opening marker (the generic
    /// one) opens a call with the answer's first <c>{</c>; null for harmony, whose calls open in two forms.
    /// </summary>
    public Engine.TriggeredSchema? Triggered(IReadOnlyList<(string Name, SchemaNode Arguments)> functions, int calls)
    {
        if (this == Harmony)
            return null;
        if (Open is null)
        {
            // The generic family's call as Llama writes it ("parameters") or as others do ("arguments").
            var objects = functions.SelectMany(f => new SchemaNode[] { CallObject(f.Name, f.Arguments), CallObject(f.Name, f.Arguments, "parameters") }).ToList();
            return new Engine.TriggeredSchema("{", new AnyOfNode(objects), AtStart: true);
        }
        if (Separator is not null && Layout.Count > 0)
        {
            // Each call on its own, from its own marker (DeepSeek's call-begin): the block's opening and closing markers stay
            // free, so several calls fit in one block.
            var each = functions.Select(SchemaNode (f) => new WrappedNode(Bytes(Open + f.Name + Separator), f.Arguments, Bytes(Close!))).ToList();
            return new Engine.TriggeredSchema(Open, each.Count == 1 ? each[0] : new AnyOfNode(each));
        }
        return new Engine.TriggeredSchema(Separator is not null ? Prefix() : Open, Forced(functions, calls));
    }

    /// <summary>A forced call's grammar: one call to one of <paramref name="functions"/>, in this family's markup.</summary>
    /// <param name="arrayCalls">Calls a family that writes them as one JSON array may put in it.</param>
    public SchemaNode Forced(IReadOnlyList<(string Name, SchemaNode Arguments)> functions, int arrayCalls = 1)
    {
        if (this == Harmony)
        {
            // The call message itself, as the model writes it (the grammar ends the answer where <|call|> would).
            var messages = functions.Select(SchemaNode (f) => new WrappedNode(
                Bytes(Chat.HarmonySplitter.Channel + "commentary to=functions." + f.Name + " <|constrain|>json" + Chat.HarmonySplitter.Message), f.Arguments, [])).ToList();
            return messages.Count == 1 ? messages[0] : new AnyOfNode(messages);
        }
        var calls = functions.Select(SchemaNode (f) => Separator is not null
            ? new WrappedNode(Bytes(Prefix() + f.Name + Separator), f.Arguments, Bytes(Suffix()))
            : CallObject(f.Name, f.Arguments)).ToList();
        SchemaNode call = calls.Count == 1 ? calls[0] : new AnyOfNode(calls);
        if (Separator is not null)
            return call;
        if (CallsInArray)
            return new WrappedNode(Bytes(Open!), new ArrayNode(call, 1, arrayCalls), Close is null ? [] : Bytes(Close));
        return Open is null ? call : new WrappedNode(Bytes(Open + "\n"), call, Bytes("\n" + Close));
    }

    private string Prefix() => (Layout.Count > 0 ? Layout[0] : "") + Open;

    private string Suffix() => Close + (Layout.Count > 1 ? Layout[1] : "");

    private ObjectNode CallObject(string name, SchemaNode arguments, string? argumentsKey = null) => new(
    [
        new ObjectProperty(NameKey, Bytes(JsonSerializer.Serialize(NameKey)), new LiteralNode([Encoding.UTF8.GetBytes(JsonSerializer.Serialize(name))]), Required: true),
        new ObjectProperty(argumentsKey ?? ArgumentsKey, Bytes(JsonSerializer.Serialize(argumentsKey ?? ArgumentsKey)), arguments, Required: true),
    ], SchemaNode.Any);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
