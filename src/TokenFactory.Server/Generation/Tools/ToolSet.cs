using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Constraints;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Generation.Tools;

public enum ToolChoiceMode { None, Auto, Required, Named }

/// <summary>One function the model may call.</summary>
/// <param name="Strict">Its arguments must follow <paramref name="Parameters"/> (OpenAI's <c>strict</c>): enforced as far as the grammar can (<see cref="ToolSet.TriggeredCall"/>).</param>
public sealed record ToolFunction(string Name, JsonNode? Parameters, bool Strict = false);

/// <summary>What a request's strict functions got under tool_choice auto: the grammar for a call once opened, and what could not be enforced.</summary>
public sealed record StrictTools(Engine.TriggeredSchema? Schema, string? NotEnforced)
{
    /// <summary>The response header's value: <c>enforced</c>, or <c>partial; …</c> / <c>not-enforced; …</c> with the reason.</summary>
    public string? Header => (Schema, NotEnforced) switch
    {
        (null, null) => null,
        (not null, null) => "enforced",
        (not null, { } why) => Ascii("partial; " + why),
        (null, { } why) => Ascii("not-enforced; " + why),
    };

    /// <summary>A header value: printable ASCII only, at most 300 characters.</summary>
    private static string Ascii(string text)
    {
        var chars = text.Select(c => c is >= ' ' and <= '~' ? c : '?').Take(300).ToArray();
        return new string(chars);
    }
}

/// <summary>
/// A request's <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>, checked field by field (a 400 names the
/// field). <c>required</c> and a named function are enforced by constrained decoding: the output is a call in the
/// model's own markup whose arguments follow the function's parameters schema.
/// </summary>
public sealed class ToolSet
{
    private ToolSet(IReadOnlyList<ToolFunction> functions, ToolChoiceMode mode, string? named, bool parallel)
    {
        Functions = functions;
        Mode = mode;
        Named = named;
        Parallel = parallel;
    }

    public IReadOnlyList<ToolFunction> Functions { get; }
    public ToolChoiceMode Mode { get; }
    public string? Named { get; }
    /// <summary>Several calls in one answer allowed (OpenAI's default); false keeps only the first.</summary>
    public bool Parallel { get; }

    /// <summary>Whether the answer is searched for calls (not with <c>none</c>, and not without tools).</summary>
    public bool ParsesCalls => Functions.Count > 0 && Mode != ToolChoiceMode.None;

    /// <summary>Null when the request has no tools (then tool_choice may only be absent or none).</summary>
    /// <exception cref="OpenAiException">400 naming the field.</exception>
    public static ToolSet? Parse(JsonArray? tools, JsonElement? toolChoice, bool? parallelToolCalls)
    {
        var functions = new List<ToolFunction>();
        for (int i = 0; i < (tools?.Count ?? 0); i++)
            functions.Add(Function(tools![i], $"tools[{i}]", functions));
        var (mode, named) = Choice(toolChoice, functions);
        if (functions.Count == 0)
        {
            if (mode is not ToolChoiceMode.None)
                throw OpenAiException.Invalid("'tool_choice' is only allowed when 'tools' are given (or as \"none\").", "tool_choice");
            if (parallelToolCalls is not null)
                throw OpenAiException.Invalid("'parallel_tool_calls' is only allowed when 'tools' are given.", "parallel_tool_calls");
            return null;
        }
        return new ToolSet(functions, mode, named, parallelToolCalls ?? true);
    }

    private static ToolFunction Function(JsonNode? tool, string path, List<ToolFunction> seen)
    {
        if (tool is not JsonObject t || !IsString(t["type"], "function") || t["function"] is not JsonObject f)
            throw OpenAiException.Invalid($"'{path}' must be {{\"type\": \"function\", \"function\": {{\"name\": …}}}}.", path);
        foreach (var (key, _) in t)
            if (key is not ("type" or "function"))
                throw OpenAiException.Invalid($"Unknown parameter: '{path}.{key}'.", $"{path}.{key}", "unknown_parameter");
        foreach (var (key, _) in f)
            if (key is not ("name" or "description" or "parameters" or "strict"))
                throw OpenAiException.Invalid($"Unknown parameter: '{path}.function.{key}'.", $"{path}.function.{key}", "unknown_parameter");
        if (f["name"] is not JsonValue nameValue || nameValue.GetValueKind() != JsonValueKind.String
            || nameValue.GetValue<string>() is not { Length: > 0 and <= 64 } name || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            throw OpenAiException.Invalid($"'{path}.function.name' must be 1 to 64 letters, digits, '_', '-' or '.'.", $"{path}.function.name");
        if (seen.Any(s => s.Name == name))
            throw OpenAiException.Invalid($"'{path}.function.name': another tool is already named '{name}'.", $"{path}.function.name");
        if (f["strict"] is { } strict && !(strict is JsonValue sv && sv.GetValueKind() is JsonValueKind.True or JsonValueKind.False))
            throw OpenAiException.Invalid($"'{path}.function.strict' must be true or false.", $"{path}.function.strict", "invalid_type");
        if (f["parameters"] is { } parameters && parameters is not JsonObject)
            throw OpenAiException.Invalid($"'{path}.function.parameters' must be a JSON Schema object.", $"{path}.function.parameters");
        return new ToolFunction(name, f["parameters"], f["strict"] is JsonValue strictValue && strictValue.GetValueKind() == JsonValueKind.True);
    }

    private static (ToolChoiceMode, string?) Choice(JsonElement? choice, List<ToolFunction> functions)
    {
        if (choice is not { } c || c.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            return (functions.Count > 0 ? ToolChoiceMode.Auto : ToolChoiceMode.None, null);
        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString() switch
            {
                "none" => (ToolChoiceMode.None, null),
                "auto" => (ToolChoiceMode.Auto, null),
                "required" => (ToolChoiceMode.Required, null),
                var other => throw OpenAiException.Invalid($"'tool_choice' must be none, auto, required or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}; got '{other}'.", "tool_choice"),
            };
        }
        if (c.ValueKind == JsonValueKind.Object && c.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "function"
            && c.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object && f.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
        {
            // Anything else in it would be ignored: refused by name, as a tool's unknown keys are.
            foreach (var p in c.EnumerateObject().Where(p => p.Name is not ("type" or "function")))
                throw OpenAiException.Invalid($"Unknown parameter: 'tool_choice.{p.Name}'.", $"tool_choice.{p.Name}", "unknown_parameter");
            foreach (var p in f.EnumerateObject().Where(p => p.Name != "name"))
                throw OpenAiException.Invalid($"Unknown parameter: 'tool_choice.function.{p.Name}'.", $"tool_choice.function.{p.Name}", "unknown_parameter");
            string wanted = name.GetString()!;
            if (!functions.Any(fn => fn.Name == wanted))
                throw OpenAiException.Invalid($"'tool_choice.function.name' names '{wanted}', which is not among the tools.", "tool_choice.function.name");
            return (ToolChoiceMode.Named, wanted);
        }
        throw OpenAiException.Invalid("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}.", "tool_choice");
    }

    /// <summary>
    /// For <c>required</c> or a named function: the output a call must take — the family's markup around
    /// <c>{"name": …, "arguments": {…}}</c>, the arguments following the function's schema. Null for none/auto.
    /// </summary>
    /// <exception cref="OpenAiException">400 naming the schema keyword that cannot be enforced.</exception>
    public SchemaNode? ForcedCall(ToolCallSyntax syntax)
    {
        if (Mode is not (ToolChoiceMode.Required or ToolChoiceMode.Named))
            return null;
        var choices = new List<(string, SchemaNode)>();
        for (int i = 0; i < Functions.Count; i++)
        {
            if (Mode != ToolChoiceMode.Named || Functions[i].Name == Named)
                choices.Add((Functions[i].Name, Arguments(i)));
        }
        if (Alternatives(syntax, choices.Count) > JsonMatcher.MaxAlternatives)
            throw OpenAiException.Invalid($"A call forced to one of {choices.Count} functions cannot be constrained: at most {JsonMatcher.MaxAlternatives / Alternatives(syntax, 1)} "
                + "functions with this model's call format (name one in tool_choice, or send fewer tools).", "tools");
        return syntax.Forced(choices);
    }

    /// <summary>The choices a call's grammar holds open until the function's name is told apart: one per function, two in the generic family ("arguments" or "parameters").</summary>
    private static int Alternatives(ToolCallSyntax syntax, int functions) => functions * (syntax.Open is null ? 2 : 1);

    /// <summary>
    /// Under <c>auto</c> with a <c>strict</c> function, as much of strict as can be enforced (the SDKs send it by default,
    /// so what cannot be is said, not refused): the answer stays free, and a call the model opens follows the family's
    /// markup with a strict function's arguments following its schema (the others', and a strict one whose schema uses a
    /// keyword the grammar cannot enforce, any object). <see cref="StrictTools.Schema"/> is null where nothing is
    /// enforced (no strict function, another tool_choice, harmony's calls, which open two ways); <see cref="StrictTools.NotEnforced"/>
    /// says what was not.
    /// </summary>
    public StrictTools TriggeredCall(ToolCallSyntax syntax)
    {
        if (Mode != ToolChoiceMode.Auto || !Functions.Any(f => f.Strict))
            return new StrictTools(null, null);
        var choices = new List<(string, SchemaNode)>();
        var skipped = new List<string>();
        for (int i = 0; i < Functions.Count; i++)
        {
            SchemaNode arguments = JsonSchemaCompiler.AnyObject;
            if (Functions[i].Strict)
            {
                try
                {
                    arguments = Compile(Functions[i]);
                }
                catch (UnsupportedSchemaException e)
                {
                    skipped.Add($"{SchemaParam(i, e)}: {e.Message}");
                }
            }
            choices.Add((Functions[i].Name, arguments));
        }
        if (Alternatives(syntax, choices.Count) > JsonMatcher.MaxAlternatives)
            return new StrictTools(null, $"{choices.Count} functions are more than a call's grammar can hold open, so no call is constrained (name one in tool_choice)");
        var schema = syntax.Triggered(choices, Parallel ? 16 : 1);
        if (schema is null)
            return new StrictTools(null, $"this model's {syntax.Name} calls open in more than one form, so no call is constrained (tool_choice \"required\" or a named function is)");
        return new StrictTools(schema, skipped.Count == 0 ? null : "arguments not constrained for " + string.Join("; ", skipped));
    }

    /// <summary>Function <paramref name="i"/>'s arguments as a grammar: its parameters schema (any object without one).</summary>
    /// <exception cref="OpenAiException">400 naming the schema keyword that cannot be enforced.</exception>
    private SchemaNode Arguments(int i)
    {
        try
        {
            return Compile(Functions[i]);
        }
        catch (UnsupportedSchemaException e)
        {
            throw OpenAiException.Invalid(e.Message, SchemaParam(i, e), "unsupported_schema");
        }
    }

    /// <exception cref="UnsupportedSchemaException">A keyword the grammar cannot enforce.</exception>
    private static SchemaNode Compile(ToolFunction f)
    {
        // Arguments are an object whatever the schema says: a call's readers (and OpenAI's clients) expect one.
        var arguments = f.Parameters is JsonObject { Count: > 0 } p ? JsonSchemaCompiler.Compile(JsonSerializer.SerializeToElement(p, Contracts.OpenAiJson.Default.JsonObject)) : JsonSchemaCompiler.AnyObject;
        if (arguments is not (ObjectNode or RefNode { Resolved: ObjectNode }))
            throw new UnsupportedSchemaException("type", "A function's parameters must describe an object (\"type\": \"object\") to be enforced.");
        return arguments;
    }

    private static string SchemaParam(int i, UnsupportedSchemaException e) => $"tools[{i}].function.parameters" + (e.Path.Length > 0 ? "." + e.Path : "");

    private static bool IsString(JsonNode? node, string value) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == value;
}
