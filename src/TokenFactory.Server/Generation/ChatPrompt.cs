using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Api;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Generation;

/// <summary>Turns OpenAI chat messages into the prompt text the model's template renders, and that text into tokens.</summary>
internal static class ChatPrompt
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary>
    /// Validates the messages and flattens array content (text parts) to a string, which is what chat
    /// templates expect; every other field is passed through for the template.
    /// </summary>
    public static JsonArray Normalize(JsonArray? messages)
    {
        if (messages is null || messages.Count == 0)
            throw OpenAiException.Invalid("'messages' must be a non-empty array.", "messages");
        var result = new JsonArray();
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject message)
                throw OpenAiException.Invalid($"messages[{i}] must be an object.", $"messages[{i}]");
            string? role = Role(message);
            if (role is null || !Roles.Contains(role))
                throw OpenAiException.Invalid($"messages[{i}].role must be one of system, developer, user, assistant, tool.", $"messages[{i}].role");
            ToolCalls(message["tool_calls"], i);
            var copy = (JsonObject)message.DeepClone();
            copy["content"] = Content(copy["content"], role, copy.ContainsKey("tool_calls"), i);
            result.Add(copy);
        }
        return result;
    }

    /// <summary>
    /// OpenAI sends a call's arguments as JSON text; most templates write them with <c>tojson</c>, which would quote that
    /// text again. As vLLM does, arguments that parse as a JSON object are given to the template as the object — unless
    /// the template adds them to a string itself (Functionary: <c>'&gt;' + arguments + '&lt;/function&gt;'</c>), which
    /// only text survives (<see cref="ConcatenatesArguments"/>).
    /// </summary>
    private static JsonArray ArgumentsForTemplate(JsonArray messages, Chat.ChatTemplate template)
    {
        if (ConcatenatesArguments(template.Source) || !messages.Any(m => m?["tool_calls"] is JsonArray))
            return messages;
        var copy = (JsonArray)messages.DeepClone();
        foreach (var message in copy)
        {
            if (message?["tool_calls"] is JsonArray calls)
                ParseArguments(calls);
        }
        return copy;
    }

    private static readonly System.Text.RegularExpressions.Regex ArgumentsConcatenated = new(
        @"arguments['""]?\]?\s*\+|\+\s*[\w.\[\]'""]*arguments['""]?\]?\s*(?:-?\}\}|\+)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static (string Source, bool Concatenates)? _lastTemplate; // one served template: the regex runs once

    /// <summary>Whether the template adds a call's <c>arguments</c> to a string with <c>+</c> (no <c>tojson</c> between).</summary>
    internal static bool ConcatenatesArguments(string templateSource)
    {
        if (_lastTemplate is { } last && ReferenceEquals(last.Source, templateSource))
            return last.Concatenates;
        bool result = ArgumentsConcatenated.IsMatch(templateSource);
        _lastTemplate = (templateSource, result);
        return result;
    }

    private static void ParseArguments(JsonArray calls)
    {
        foreach (var call in calls)
        {
            if (call?["function"] is JsonObject function && function["arguments"] is JsonValue v && v.TryGetValue(out string? text))
            {
                try
                {
                    if (JsonNode.Parse(text, documentOptions: Tools.ToolCallExtractor.StrictJson) is JsonObject arguments) // a key twice stays text
                        function["arguments"] = arguments;
                }
                catch (System.Text.Json.JsonException)
                {
                    // not JSON: the template gets the text as it was sent
                }
            }
        }
    }

    /// <summary>A message's role when it is a string (null otherwise).</summary>
    private static string? Role(JsonNode? message) => message?["role"] is JsonValue r && r.TryGetValue(out string? role) ? role : null;

    /// <summary>An assistant turn's earlier calls, as OpenAI takes them: objects with a function's name and its arguments as text.</summary>
    private static void ToolCalls(JsonNode? calls, int i)
    {
        if (calls is null)
            return;
        if (calls is not JsonArray array)
            throw OpenAiException.Invalid($"messages[{i}].tool_calls must be an array.", $"messages[{i}].tool_calls");
        for (int j = 0; j < array.Count; j++)
        {
            string param = $"messages[{i}].tool_calls[{j}]";
            if (array[j] is not JsonObject call || call["function"] is not JsonObject function)
                throw OpenAiException.Invalid($"{param} must be {{\"id\": …, \"type\": \"function\", \"function\": {{\"name\": …, \"arguments\": …}}}}.", param);
            if (call["type"] is { } type && !(type is JsonValue tv && tv.TryGetValue(out string? kind) && kind == "function"))
                throw OpenAiException.Invalid($"{param}.type must be \"function\".", param + ".type");
            if (function["name"] is not JsonValue name || !name.TryGetValue(out string? _))
                throw OpenAiException.Invalid($"{param}.function.name must be a string.", param + ".function.name");
            if (function["arguments"] is { } arguments && !(arguments is JsonValue av && av.TryGetValue(out string? _)))
                throw OpenAiException.Invalid($"{param}.function.arguments must be a string (JSON text).", param + ".function.arguments");
        }
    }

    private static JsonNode? Content(JsonNode? content, string role, bool hasToolCalls, int i)
    {
        switch (content)
        {
            // An assistant turn that only calls tools: null, as OpenAI's clients send it (DeepSeek-R1's template writes the
            // calls only when content is none); a template that fails on it (ChatML and others concatenate content) is
            // rendered again with "" (Render).
            case null when role == "assistant" && hasToolCalls:
                return null;
            case null:
                throw OpenAiException.Invalid($"messages[{i}].content is required for role '{role}'.", $"messages[{i}].content");
            case JsonValue v when v.TryGetValue(out string? text):
                return text;
            case JsonArray parts:
                var texts = new List<string>(parts.Count);
                for (int j = 0; j < parts.Count; j++)
                {
                    string param = $"messages[{i}].content[{j}]";
                    if (parts[j] is not JsonObject part || part["type"] is not JsonValue type || !type.TryGetValue(out string? kind))
                        throw OpenAiException.Invalid($"{param} must be an object with a 'type'.", param);
                    if (kind != "text")
                        throw OpenAiException.Invalid($"{param}.type '{kind}' is not supported: this model takes only text parts.", param + ".type");
                    if (part["text"] is not JsonValue t || !t.TryGetValue(out string? partText))
                        throw OpenAiException.Invalid($"{param}.text must be a string.", param + ".text");
                    texts.Add(partText);
                }
                // Joined with newlines, as vLLM does, so separate parts never run together.
                return string.Join('\n', texts);
            default:
                throw OpenAiException.Invalid($"messages[{i}].content must be a string or an array of text parts.", $"messages[{i}].content");
        }
    }

    /// <param name="cancellation">The request's: a client gone stops a long render (a template can run up to its time limit).</param>
    public static string Render(IInferenceEngine engine, JsonArray messages, JsonArray? tools, bool addGenerationPrompt, Dictionary<string, JsonNode?>? kwargs,
        CancellationToken cancellation = default) =>
        Render(engine.ChatTemplate, messages, tools, addGenerationPrompt, kwargs, cancellation);

    /// <summary>The same text from a template alone (the fleet router renders what its replicas will, to route by prefix).</summary>
    public static string Render(Chat.ChatTemplate template, JsonArray messages, JsonArray? tools, bool addGenerationPrompt, Dictionary<string, JsonNode?>? kwargs,
        CancellationToken cancellation = default)
    {
        var prepared = ArgumentsForTemplate(DeveloperForTemplate(messages, template), template);
        var toolList = tools is { Count: > 0 } ? tools : null;
        try
        {
            return template.Render(prepared, addGenerationPrompt, toolList, kwargs, cancellation);
        }
        catch (Chat.TemplateException) when (WithEmptyContent(prepared) is { } emptied)
        {
            // The template fails on a tool-calling turn's null content (it adds content to a string): "" reads the same
            // to templates that test `if message.content`, as llama.cpp's template probing also concludes.
            return template.Render(emptied, addGenerationPrompt, toolList, kwargs, cancellation);
        }
    }

    /// <summary>The messages with every null content as "" (null when none is null).</summary>
    private static JsonArray? WithEmptyContent(JsonArray messages)
    {
        if (!messages.Any(m => m is JsonObject o && o.ContainsKey("content") && o["content"] is null))
            return null;
        var copy = (JsonArray)messages.DeepClone();
        foreach (var m in copy)
        {
            if (m is JsonObject o && o.ContainsKey("content") && o["content"] is null)
                o["content"] = "";
        }
        return copy;
    }

    /// <summary>
    /// OpenAI's <c>developer</c> role is the system role of newer models. A template that never names it would drop such a
    /// message (most loop over system, user, assistant and tool only) or print an unknown role: there it is a system message,
    /// as OpenAI treats it for models without the role. Templates that name it (gpt-oss, Gemma 4) get it as sent.
    /// </summary>
    private static JsonArray DeveloperForTemplate(JsonArray messages, Chat.ChatTemplate template)
    {
        if (template.Source.Contains("developer", StringComparison.Ordinal)
            || !messages.Any(m => Role(m) == "developer"))
            return messages;
        var copy = (JsonArray)messages.DeepClone();
        foreach (var message in copy)
        {
            if (message is JsonObject o && Role(o) == "developer")
                o["role"] = "system";
        }
        return copy;
    }

    /// <summary>A rendered prompt and the ranges of it that are users' and tools' message text, to be tokenized as text only.</summary>
    public readonly record struct RenderedPrompt(string Text, Range[] TextOnly);

    // Noncharacters (never meant for interchange) around a message's content in a second render, to find where it landed.
    private const char ContentStart = '\uFDD0', ContentEnd = '\uFDD1';

    /// <summary>
    /// <see cref="Render(Chat.ChatTemplate, JsonArray, JsonArray?, bool, Dictionary{string, JsonNode?}?, CancellationToken)"/>, and where
    /// in the text each user or tool message's content is when it contains a control token's text (<c>&lt;|im_end|&gt;</c> typed
    /// into a message, or returned by a tool): <see cref="Tokenize(ITokenizer, RenderedPrompt)"/> keeps it text, so a message
    /// cannot close its turn and forge another (the system's, the assistant's). Found by rendering once more with the content
    /// between two noncharacters; a template that changes such a message (so the two renders differ beyond the marks) gets
    /// a 400 naming it rather than its markup parsed.
    /// </summary>
    public static RenderedPrompt RenderForTokens(Chat.ChatTemplate template, ITokenizer tokenizer, JsonArray messages, JsonArray? tools, bool addGenerationPrompt,
        Dictionary<string, JsonNode?>? kwargs, CancellationToken cancellation = default)
    {
        string text = Render(template, messages, tools, addGenerationPrompt, kwargs, cancellation);
        List<int>? marked = null;
        for (int i = 0; i < messages.Count; i++)
        {
            if (Role(messages[i]) is "user" or "tool"
                && messages[i]!["content"] is JsonValue c && c.TryGetValue(out string? content) && tokenizer.MentionsSpecialToken(content))
                (marked ??= []).Add(i);
        }
        if (marked is null)
            return new(text, []);
        var copy = (JsonArray)messages.DeepClone();
        foreach (int i in marked)
        {
            // The marks go inside the edge whitespace, so a template that trims the message trims it as before.
            string content = copy[i]!["content"]!.GetValue<string>(), core = content.Trim();
            int lead = content.Length - content.TrimStart().Length;
            copy[i]!["content"] = content[..lead] + ContentStart + core + ContentEnd + content[(lead + core.Length)..];
        }
        string withMarks = Render(template, copy, tools, addGenerationPrompt, kwargs, cancellation);
        var ranges = new List<Range>();
        var plain = new System.Text.StringBuilder(text.Length);
        int open = -1;
        bool balanced = true;
        foreach (char ch in withMarks)
        {
            if (ch == ContentStart)
            {
                balanced &= open < 0;
                open = plain.Length;
            }
            else if (ch == ContentEnd)
            {
                balanced &= open >= 0;
                if (open >= 0)
                    ranges.Add(open..plain.Length);
                open = -1;
            }
            else
                plain.Append(ch);
        }
        if (!balanced || open >= 0 || !plain.Equals(text.AsSpan()))
            throw OpenAiException.Invalid($"messages[{marked[0]}].content contains the text of one of the model's control tokens, and this model's chat template "
                + "changes such a message, so it cannot be kept as plain text: remove the token's text (a prompt that means it is sent to /v1/completions).",
                $"messages[{marked[0]}].content");
        return new(text, [.. ranges]);
    }

    /// <summary><see cref="Tokenize(ITokenizer, string, IReadOnlyList{Range}?)"/> with the users' and tools' message text kept free of control tokens.</summary>
    public static int[] Tokenize(ITokenizer tokenizer, RenderedPrompt prompt) => Tokenize(tokenizer, prompt.Text, prompt.TextOnly);

    /// <summary>
    /// As llama.cpp's server does: control-token texts in the rendered prompt (<c>&lt;|im_start|&gt;</c>, the
    /// template's own <c>bos_token</c>) become those tokens, and BOS is added only when the vocabulary asks for
    /// it and the text does not already begin with it, so templates that write bos_token never get two.
    /// Within <paramref name="textOnly"/> (users' and tools' messages, <see cref="RenderForTokens"/>) no control token is recognized.
    /// </summary>
    public static int[] Tokenize(ITokenizer tokenizer, string prompt, IReadOnlyList<Range>? textOnly = null)
    {
        var ids = tokenizer.Encode(prompt, addSpecial: false, parseSpecial: true, textOnly ?? []);
        if (tokenizer.Vocabulary.AddBos && tokenizer.Bos is int bos && (ids.Length == 0 || ids[0] != bos))
            return [bos, .. ids];
        return ids;
    }

    /// <summary>ChatML's end of turn as a stop string, for models whose vocabulary has no such token (stories260K).</summary>
    public static IReadOnlyList<string> TemplateStops(IInferenceEngine engine) =>
        engine.HasOwnChatTemplate ? [] : ["<|im_end|>"];
}
