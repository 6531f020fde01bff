using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Api;

/// <summary>
/// A Responses API request as the chat request it amounts to: <c>instructions</c> as the system message, input items as
/// messages (function calls as an assistant turn's tool_calls, their outputs as tool messages), flat function tools as
/// chat tools, <c>text.format</c> as <c>response_format</c>. What it cannot honour is refused by name.
/// </summary>
internal static class ResponsesRequestMapping
{
    /// <param name="previous">The stored conversation <c>previous_response_id</c> names (it follows the instructions).</param>
    public static ChatCompletionRequest ToChat(ResponsesRequest r, JsonArray? previous)
    {
        if (r.Truncation is not (null or "disabled"))
            throw OpenAiException.Invalid("'truncation' may only be \"disabled\": a conversation longer than the context is refused, never cut.", "truncation", "unsupported_parameter");
        if (r.Metadata is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } metadata && (metadata.ValueKind != JsonValueKind.Object || metadata.EnumerateObject().Any()))
            throw OpenAiException.Invalid("'metadata' is not supported.", "metadata", "unsupported_parameter");
        var messages = new JsonArray();
        if (r.Instructions is { } instructions)
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = instructions });
        foreach (var message in previous ?? [])
            messages.Add(message?.DeepClone());
        switch (r.Input)
        {
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                messages.Add(new JsonObject { ["role"] = "user", ["content"] = v.GetValue<string>() });
                break;
            case JsonArray items:
                AddItems(items, messages);
                break;
            default:
                throw OpenAiException.Invalid("'input' must be a string or a list of items.", "input");
        }
        return new ChatCompletionRequest
        {
            Model = r.Model,
            Messages = messages,
            MaxCompletionTokens = r.MaxOutputTokens,
            Temperature = r.Temperature,
            TopP = r.TopP,
            Tools = r.Tools is null ? null : Tools(r.Tools),
            ToolChoice = r.ToolChoice is { } choice ? ToolChoice(choice) : null,
            ParallelToolCalls = r.ParallelToolCalls,
            ResponseFormat = r.Text is null ? null : Format(r.Text),
            User = r.User,
        };
    }

    private static void AddItems(JsonArray items, JsonArray messages)
    {
        for (int i = 0; i < items.Count; i++)
        {
            string path = $"input[{i}]";
            if (items[i] is not JsonObject item)
                throw OpenAiException.Invalid($"'{path}' must be an object.", path);
            string type = Text(item["type"], $"{path}.type") ?? "message";
            switch (type)
            {
                case "message":
                    messages.Add(new JsonObject { ["role"] = Text(item["role"], $"{path}.role") ?? throw OpenAiException.Invalid($"'{path}.role' is required.", $"{path}.role"),
                        ["content"] = Content(item["content"], path) });
                    break;
                case "function_call":
                    var call = new JsonObject
                    {
                        ["id"] = Required(item, "call_id", path), ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = Required(item, "name", path), ["arguments"] = Text(item["arguments"], $"{path}.arguments") ?? "{}" },
                    };
                    // Calls in a row are one assistant turn, as the chat templates expect them.
                    if (messages.Count > 0 && messages[^1] is JsonObject { } last && (string?)last["role"] == "assistant" && last["tool_calls"] is JsonArray calls && last["content"] is null)
                        calls.Add(call);
                    else
                        messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(call) });
                    break;
                case "function_call_output":
                    messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = Required(item, "call_id", path), ["content"] = Required(item, "output", path) });
                    break;
                default:
                    throw OpenAiException.Invalid($"'{path}.type' '{type}' is not supported: items are messages, function_call and function_call_output.", $"{path}.type", "unsupported_parameter");
            }
        }
    }

    /// <summary>A message's content: a string, or parts of text (<c>input_text</c>, <c>output_text</c>), joined.</summary>
    private static string Content(JsonNode? content, string path)
    {
        if (content is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            return v.GetValue<string>();
        if (content is not JsonArray parts)
            throw OpenAiException.Invalid($"'{path}.content' must be a string or a list of text parts.", $"{path}.content");
        var texts = new List<string>();
        for (int j = 0; j < parts.Count; j++)
        {
            if (parts[j] is not JsonObject part)
                throw OpenAiException.Invalid($"'{path}.content[{j}]' must be a text part ({{\"type\": \"input_text\", \"text\": …}}).", $"{path}.content[{j}]");
            string kind = Text(part["type"], $"{path}.content[{j}].type") ?? "";
            if (kind is not ("input_text" or "output_text"))
                throw OpenAiException.Invalid($"'{path}.content[{j}].type' '{kind}' is not supported: this model takes text only.", $"{path}.content[{j}].type", "unsupported_parameter");
            texts.Add(Text(part["text"], $"{path}.content[{j}].text") ?? "");
        }
        return string.Join('\n', texts);
    }

    /// <summary>Responses' flat function tools (<c>{"type": "function", "name", "parameters"}</c>) in chat's nested shape, strict by default.</summary>
    private static JsonArray Tools(JsonArray tools)
    {
        var result = new JsonArray();
        for (int i = 0; i < tools.Count; i++)
        {
            if (tools[i] is not JsonObject t || Text(t["type"], $"tools[{i}].type") != "function")
                throw OpenAiException.Invalid($"'tools[{i}]' must be a function tool: built-in tools (web_search, file_search, …) are not offered.", $"tools[{i}].type", "unsupported_parameter");
            var function = new JsonObject();
            foreach (var (key, value) in t)
                if (key != "type")
                    function[key] = value?.DeepClone();
            // The Responses API's function tools are strict unless they say otherwise (chat's are not).
            if (function["strict"] is null)
                function["strict"] = true;
            result.Add(new JsonObject { ["type"] = "function", ["function"] = function });
        }
        return result;
    }

    private static JsonElement ToolChoice(JsonElement choice)
    {
        if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "function"
            && choice.TryGetProperty("name", out var name))
        {
            if (name.ValueKind != JsonValueKind.String)
                throw OpenAiException.Invalid("'tool_choice.name' must be a string naming one of the tools.", "tool_choice.name");
            return JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name.GetString() } }, OpenAiJsonContext.Default.JsonObject);
        }
        return choice;
    }

    /// <summary><c>text.format</c> as chat's <c>response_format</c> (json_schema's fields move under <c>json_schema</c>).</summary>
    private static JsonElement? Format(JsonObject text)
    {
        foreach (var (key, _) in text)
            if (key != "format")
                throw OpenAiException.Invalid($"'text.{key}' is not supported.", $"text.{key}", "unsupported_parameter");
        if (text["format"] is null)
            return null;
        if (text["format"] is not JsonObject format)
            throw OpenAiException.Invalid("'text.format' must be an object ({\"type\": \"text\" | \"json_object\" | \"json_schema\", …}).", "text.format", "invalid_type");
        var chat = Text(format["type"], "text.format.type") == "json_schema"
            ? new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject(format.Where(kv => kv.Key != "type").Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))),
            }
            : (JsonObject)format.DeepClone();
        return JsonSerializer.SerializeToElement(chat, OpenAiJsonContext.Default.JsonObject);
    }

    /// <summary>A string field, null when absent; any other JSON kind is a 400 naming it (never a cast that throws).</summary>
    private static string? Text(JsonNode? node, string path) => node switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw OpenAiException.Invalid($"'{path}' must be a string.", path, "invalid_type"),
    };

    private static string Required(JsonObject item, string field, string path) =>
        Text(item[field], $"{path}.{field}") ?? throw OpenAiException.Invalid($"'{path}.{field}' is required.", $"{path}.{field}");
}
