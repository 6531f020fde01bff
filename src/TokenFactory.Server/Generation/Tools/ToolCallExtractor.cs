using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Generation.Tools;

/// <summary>
/// Takes one choice's answer apart as it streams: text becomes content as soon as it cannot be the start of a call;
/// each call becomes a <see cref="ToolCall"/> once its markup closes. Markup never reaches the content: a piece that
/// might open a call is held back until it is clear, and a call that does not parse (or names no tool) is given back as
/// the text it was, so nothing is lost. Not thread-safe: one per choice.
/// </summary>
public sealed class ToolCallExtractor(ToolCallSyntax syntax, ToolSet tools)
{
    private readonly StringBuilder _buffer = new();
    private readonly List<ToolCall> _calls = [];
    private bool _inCall;
    private bool _sawContent;   // any non-whitespace content: then the answer is text, not bare JSON (generic syntax)
    private bool _holdingJson;  // generic syntax: the answer began with { or [ and is held until it ends
    private bool _holdingPython; // generic syntax: the answer may be Llama's built-in form, tool.call(…), of one of these tools
    private string _whitespace = ""; // whitespace held back: between calls it is layout, not content

    /// <summary>The calls found so far.</summary>
    public IReadOnlyList<ToolCall> Calls => _calls;

    /// <summary>A piece of a call for a stream: the first of each call has its id and name; arguments come in pieces.</summary>
    public sealed record CallPiece(int Index, string? Id, string? Name, string Arguments);

    private readonly List<CallPiece> _pieces = [];

    /// <summary>A call whose arguments are being streamed as they arrive: where they start in the buffer, how much went out.</summary>
    private sealed class StreamedCall(int index, int position, string id, string name, int argumentsStart)
    {
        /// <summary>Its index in the stream's deltas (never reused), and its place in <see cref="Calls"/>.</summary>
        public int Index { get; } = index;
        public int Position { get; } = position;
        public string Id { get; } = id;
        public string Name { get; } = name;
        public int ArgumentsStart { get; } = argumentsStart;
        public int Sent { get; set; }
    }

    private StreamedCall? _streamed;
    private int _nextIndex; // the next call's index in a stream (a call found invalid keeps its index spent)

    /// <summary>The call pieces made since the last call (for a stream's tool_calls deltas).</summary>
    public List<CallPiece> TakePieces()
    {
        var pieces = new List<CallPiece>(_pieces);
        _pieces.Clear();
        return pieces;
    }

    /// <summary>Reads <paramref name="text"/>; returns the content now safe to show and the calls it completed.</summary>
    public (string Content, List<ToolCall> Calls) Push(string text)
    {
        _buffer.Append(text);
        int before = _calls.Count;
        string content = syntax.Open is null ? PushJson() : PushMarkup(final: false);
        return (content, NewSince(before));
    }

    /// <summary>The answer ended (<paramref name="cut"/>: by the length limit): whatever was held back, as content or calls.</summary>
    public (string Content, List<ToolCall> Calls) Flush(bool cut = false)
    {
        int before = _calls.Count;
        string content;
        if (syntax.Open is null)
        {
            content = (_holdingJson && TryCalls(_buffer.ToString())) || (_holdingPython && TryPythonCall(_buffer.ToString())) ? "" : _whitespace + _buffer;
        }
        else
        {
            content = PushMarkup(final: true);
            // A call cut off by the length limit before its arguments were whole is neither content nor a call: it is
            // dropped, and finish_reason "length" says so. One the model left open on its own is read if it parses, else
            // given back as text (prose that mentions the markup). Trailing layout after calls is dropped.
            if (_inCall && _streamed is not null)
            {
                StreamArguments(_buffer.ToString(), final: true);
                _inCall = false;
                if (!EndStreamed() && !cut)
                    content += _whitespace + syntax.Open + _buffer;
            }
            else if (_inCall && !cut)
            {
                string body = _buffer.ToString();
                _inCall = false;
                if (!TryBody(body))
                    content += _whitespace + syntax.Open + body;
            }
            else if (!_inCall)
                content += _calls.Count > 0 ? "" : _whitespace + _buffer;
        }
        _buffer.Clear();
        _whitespace = "";
        return (content, NewSince(before));
    }

    private string PushJson()
    {
        if (_sawContent)
        {
            string all = _whitespace + _buffer;
            _whitespace = "";
            _buffer.Clear();
            return all;
        }
        if (!_holdingJson)
        {
            string text = _buffer.ToString();
            string trimmed = text.TrimStart();
            if (trimmed.Length == 0)
                return ""; // only whitespace so far: undecided
            if (trimmed[0] is '{' or '[')
                _holdingJson = true; // may be a call: held until the answer ends
            else if (PythonCall.MayStart(trimmed, tools.Functions.Select(f => f.Name)))
                _holdingPython = true; // may be tool.call(…): held while it still can be
            else
            {
                _holdingPython = false;
                _sawContent = true;
                _buffer.Clear();
                return text;
            }
        }
        return "";
    }

    private string PushMarkup(bool final)
    {
        var content = new StringBuilder();
        foreach (string layout in syntax.Layout)
            _buffer.Replace(layout, ""); // markup around the calls: never content
        while (true)
        {
            string text = _buffer.ToString();
            if (_inCall)
            {
                _streamed ??= StartStreaming(text);
                int consumed = CallEnd(text, out string body);
                if (_streamed is not null)
                    StreamArguments(text, final: consumed >= 0);
                if (consumed < 0)
                    return content.ToString(); // the call goes on
                _buffer.Remove(0, consumed);
                _inCall = false;
                if (_streamed is not null)
                {
                    if (!EndStreamed())
                        content.Append(_whitespace).Append(syntax.Open).Append(body).Append(syntax.Close);
                }
                else if (!TryBody(body))
                    content.Append(_whitespace).Append(syntax.Open).Append(body).Append(syntax.Close);
                _whitespace = "";
                continue;
            }
            int open = text.IndexOf(syntax.Open!, StringComparison.Ordinal);
            if (open >= 0)
            {
                Emit(content, text[..open], beforeCall: true);
                _buffer.Remove(0, open + syntax.Open!.Length);
                _inCall = true;
                continue;
            }
            // No call opens here; hold back what could still become one (or layout), and trailing whitespace.
            int keep = final ? 0 : syntax.Layout.Append(syntax.Open!).Max(marker => HeldBack(text, marker));
            Emit(content, text[..^keep], beforeCall: false);
            _buffer.Remove(0, text.Length - keep);
            return content.ToString();
        }
    }

    /// <summary>
    /// Where the call that <paramref name="text"/> continues ends: after its closing markup, or, in families without one,
    /// after its JSON (behind the name and separator where there is one). −1: not yet.
    /// </summary>
    private int CallEnd(string text, out string body)
    {
        body = "";
        if (syntax.Close is { } close)
        {
            int at = text.IndexOf(close, StringComparison.Ordinal);
            if (at < 0)
                return -1;
            body = text[..at];
            return at + close.Length;
        }
        int start = 0;
        if (syntax.Separator is { } separator)
        {
            int at = text.IndexOf(separator, StringComparison.Ordinal);
            if (at < 0)
                return -1;
            start = at + separator.Length;
        }
        int end = JsonEnd(text, start);
        if (end == NotJson)
            end = text.Length; // not a call after all: given back as text
        else if (end < 0)
            return -1;
        body = text[..end];
        return end;
    }

    private const int NotJson = -2;

    /// <summary>The end of the JSON object or array starting at <paramref name="start"/> (after whitespace); −1 if it is not complete yet.</summary>
    private static int JsonEnd(string text, int start)
    {
        int i = start;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
            i++;
        if (i == text.Length)
            return -1;
        if (text[i] is not ('{' or '['))
            return NotJson;
        int depth = 0;
        bool inString = false, escaped = false;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (inString)
            {
                if (escaped)
                    escaped = false;
                else if (c == '\\')
                    escaped = true;
                else if (c == '"')
                    inString = false;
            }
            else if (c == '"')
                inString = true;
            else if (c is '{' or '[')
                depth++;
            else if (c is '}' or ']' && --depth == 0)
                return i + 1;
        }
        return -1;
    }

    /// <summary>One call's body in this family's shape; false when it is not a call to one of these tools.</summary>
    private bool TryBody(string body)
    {
        if (syntax.Separator is { } separator)
        {
            int at = body.IndexOf(separator, StringComparison.Ordinal);
            if (at < 0)
                return false;
            string name = body[..at].Trim(), rest = body[(at + separator.Length)..];
            // DeepSeek R1 writes "function<sep>name" and the arguments in a json code block.
            int fence = rest.IndexOf("```json", StringComparison.Ordinal);
            if (fence >= 0)
            {
                name = rest[..fence].Trim();
                int from = fence + "```json".Length, to = rest.IndexOf("```", from, StringComparison.Ordinal);
                rest = to < 0 ? rest[from..] : rest[from..to];
            }
            return Add(NamedCall(name, rest.Trim()));
        }
        string trimmed = body.Trim();
        if (trimmed.StartsWith("<function=", StringComparison.Ordinal))
            return Add(XmlCall(trimmed));
        if (syntax == ToolCallSyntax.Gemma4 && trimmed.StartsWith("call:", StringComparison.Ordinal))
            return Add(GemmaCall(trimmed["call:".Length..]));
        return TryCalls(body);
    }

    private bool Add(ToolCall? call)
    {
        if (call is null)
            return false;
        if (tools.Parallel || _calls.Count == 0)
        {
            _pieces.Add(new CallPiece(_nextIndex++, call.Id, call.Function.Name, call.Function.Arguments ?? "{}"));
            _calls.Add(call);
        }
        return true;
    }

    private static readonly System.Text.RegularExpressions.Regex HermesHead =
        new(@"^\s*\{\s*""name""\s*:\s*""([^""\\]+)""\s*,\s*""(?:arguments|parameters)""\s*:\s*(?=\{)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// A call whose arguments can go out as they are generated: once its function (one of these tools) is known and its
    /// arguments object has begun. Hermes JSON bodies with the name first, and the families that put the name before a
    /// separator; other shapes (XML bodies, arrays, R1's code blocks) go out whole when complete.
    /// </summary>
    private StreamedCall? StartStreaming(string text)
    {
        if (!tools.Parallel && _calls.Count > 0)
            return null;
        string? name;
        int start;
        if (syntax.Separator is { } separator)
        {
            int at = text.IndexOf(separator, StringComparison.Ordinal);
            if (at < 0)
                return null;
            name = text[..at].Trim();
            start = at + separator.Length;
            while (start < text.Length && char.IsWhiteSpace(text[start]))
                start++;
            if (start >= text.Length || text[start] != '{')
                return null;
        }
        else if (syntax.Close is not null && HermesHead.Match(text) is { Success: true } head)
        {
            name = head.Groups[1].Value;
            start = head.Index + head.Length;
        }
        else
            return null;
        if (!tools.Functions.Any(f => f.Name == name))
            return null;
        var call = new StreamedCall(_nextIndex++, _calls.Count, "call_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), name, start);
        _pieces.Add(new CallPiece(call.Index, call.Id, call.Name, ""));
        _calls.Add(new ToolCall { Id = call.Id, Function = new ToolCallFunction { Name = name, Arguments = "" } });
        return call;
    }

    /// <summary>Sends the arguments' text that arrived since last time (all of it belongs to them while their object is open).</summary>
    private void StreamArguments(string text, bool final)
    {
        var call = _streamed!;
        int end = JsonEnd(text, call.ArgumentsStart);
        int available = end >= 0 ? end : final ? CallBodyEnd(text) : text.Length;
        if (available - call.ArgumentsStart > call.Sent)
        {
            string piece = text[(call.ArgumentsStart + call.Sent)..available];
            call.Sent += piece.Length;
            _pieces.Add(new CallPiece(call.Index, null, null, piece));
            var known = _calls[call.Position];
            _calls[call.Position] = new ToolCall { Id = known.Id, Function = new ToolCallFunction { Name = known.Function.Name, Arguments = known.Function.Arguments + piece } };
        }
    }

    /// <summary>
    /// A streamed call ended: it stays a call only if its arguments are a whole JSON object. Cut short or malformed, it
    /// leaves <see cref="Calls"/> (its pieces have gone out to a stream already: the finish reason then says it is no call).
    /// </summary>
    private bool EndStreamed()
    {
        var call = _streamed!;
        _streamed = null;
        try
        {
            if (JsonNode.Parse(_calls[call.Position].Function.Arguments ?? "") is JsonObject)
                return true;
        }
        catch (JsonException)
        {
        }
        _calls.RemoveAt(call.Position);
        return false;
    }

    /// <summary>Where the call's body ends in <paramref name="text"/>: at its closing markup, or the end of what there is.</summary>
    private int CallBodyEnd(string text) =>
        syntax.Close is { } close && text.IndexOf(close, StringComparison.Ordinal) is >= 0 and var at ? at : text.Length;

    private ToolCall? NamedCall(string name, string arguments)
    {
        try
        {
            return JsonNode.Parse(arguments) is JsonObject args ? Call(new JsonObject { ["name"] = name, ["arguments"] = args }) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Gemma 4: <c>name{key:value,…}</c> after <c>call:</c>, the arguments in its notation (<see cref="GemmaArguments"/>).</summary>
    private ToolCall? GemmaCall(string body)
    {
        int brace = body.IndexOf('{');
        if (brace <= 0 || GemmaArguments.Parse(body[brace..]) is not JsonObject arguments)
            return null;
        return Call(new JsonObject { ["name"] = body[..brace].Trim(), ["arguments"] = arguments });
    }

    /// <summary>Qwen3-Coder and Nemotron: <c>&lt;function=f&gt;&lt;parameter=p&gt;value&lt;/parameter&gt;…&lt;/function&gt;</c>; a value that reads as JSON is that JSON, else text.</summary>
    private ToolCall? XmlCall(string body)
    {
        var function = System.Text.RegularExpressions.Regex.Match(body, @"^<function=([^>\s]+)>(.*)</function>$", System.Text.RegularExpressions.RegexOptions.Singleline);
        if (!function.Success)
            return null;
        var arguments = new JsonObject();
        foreach (System.Text.RegularExpressions.Match p in System.Text.RegularExpressions.Regex.Matches(function.Groups[2].Value,
            @"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", System.Text.RegularExpressions.RegexOptions.Singleline))
        {
            string value = p.Groups[2].Value;
            JsonNode? parsed;
            try
            {
                parsed = JsonNode.Parse(value);
            }
            catch (JsonException)
            {
                parsed = JsonValue.Create(value);
            }
            arguments[p.Groups[1].Value] = parsed;
        }
        return Call(new JsonObject { ["name"] = function.Groups[1].Value, ["arguments"] = arguments });
    }

    /// <summary>Content out, but a trailing whitespace run waits: after a call it is layout, before text it is content.</summary>
    private void Emit(StringBuilder content, string text, bool beforeCall)
    {
        string all = _whitespace + text;
        _whitespace = "";
        if (beforeCall && string.IsNullOrWhiteSpace(all))
            return; // layout between calls
        int end = all.Length;
        while (end > 0 && char.IsWhiteSpace(all[end - 1]))
            end--;
        content.Append(all, 0, end);
        _whitespace = all[end..];
    }

    /// <summary>The calls that came after the first <paramref name="before"/> (none when a streamed one was just dropped).</summary>
    private List<ToolCall> NewSince(int before) => _calls.Count > before ? _calls.GetRange(before, _calls.Count - before) : [];

    /// <summary>The longest end of <paramref name="text"/> that begins <paramref name="open"/> (markup that may be arriving).</summary>
    private static int HeldBack(string text, string open)
    {
        for (int n = Math.Min(open.Length - 1, text.Length); n > 0; n--)
            if (text.EndsWith(open[..n], StringComparison.Ordinal))
                return n;
        return 0;
    }

    /// <summary>Reads one call object (or, in the generic syntax, an array of them); false if it is not one for these tools.</summary>
    private bool TryCalls(string json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: StrictJson);
        }
        catch (JsonException)
        {
            return false;
        }
        var objects = node switch
        {
            JsonObject o => [o],
            JsonArray a when (syntax.Open is null || syntax.CallsInArray) && a.Count > 0 && a.All(x => x is JsonObject) => a.Select(x => x!.AsObject()).ToList(),
            _ => null,
        };
        if (objects is null)
            return false;
        var found = new List<ToolCall>();
        foreach (var o in objects)
        {
            if (Call(o) is not { } call)
                return false;
            found.Add(call);
        }
        foreach (var call in found)
            Add(call); // parallel_tool_calls: false keeps the first call only
        return true;
    }

    /// <summary>Llama's built-in form, <c>tool.call(key="value")</c>, for one of these tools.</summary>
    private bool TryPythonCall(string text) =>
        PythonCall.Parse(text) is { } call && Add(Call(new JsonObject { ["name"] = call.Name, ["arguments"] = call.Arguments }));

    /// <summary>
    /// A key given twice is malformed: JSON nodes accept it at parse and throw <see cref="ArgumentException"/> when the object is
    /// read, and a client's parser would keep one of the two. Such a call stays text.
    /// </summary>
    internal static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false };

    /// <summary>Arguments a model wrote as a JSON string: taken when the string is an object's JSON text.</summary>
    private static string ArgumentsText(string text)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: StrictJson) is JsonObject ? text : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    private ToolCall? Call(JsonObject o)
    {
        if ((o["name"] ?? o["tool_name"]) is not JsonValue nameValue || nameValue.GetValueKind() != JsonValueKind.String)
            return null;
        string name = nameValue.GetValue<string>();
        if (!tools.Functions.Any(f => f.Name == name))
            return null;
        var arguments = o["arguments"] ?? o["parameters"];
        string text = arguments switch
        {
            null => "{}",
            JsonValue v when v.GetValueKind() == JsonValueKind.String => ArgumentsText(v.GetValue<string>()), // some families send the JSON as a string
            JsonObject args => args.ToJsonString(),
            _ => "",
        };
        if (text.Length == 0)
            return null;
        return new ToolCall { Id = "call_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), Function = new ToolCallFunction { Name = name, Arguments = text } };
    }
}
