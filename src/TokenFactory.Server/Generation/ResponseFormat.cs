using System.Text.Json;
using TokenFactory.Constraints;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Generation;

/// <summary>
/// OpenAI's <c>response_format</c>: <c>text</c> (free text), <c>json_object</c> (one JSON object) or <c>json_schema</c>
/// (JSON valid against the schema, enforced token by token whatever <c>strict</c> says). Every field is read or refused.
/// </summary>
internal static class ResponseFormat
{
    /// <summary>The schema the output must follow, or null for free text.</summary>
    /// <exception cref="OpenAiException">400 naming the field (or schema keyword) that is wrong or not supported.</exception>
    public static SchemaNode? Parse(JsonElement? format)
    {
        if (format is not { } f || f.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            return null;
        if (f.ValueKind != JsonValueKind.Object || !f.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw OpenAiException.Invalid("'response_format' must be an object with a 'type': text, json_object or json_schema.", "response_format");
        string kind = type.GetString()!;
        Only(f, "response_format", kind == "json_schema" ? ["type", "json_schema"] : ["type"]);
        return kind switch
        {
            "text" => null,
            "json_object" => JsonSchemaCompiler.AnyObject,
            "json_schema" => Schema(f),
            _ => throw OpenAiException.Invalid($"'response_format.type' must be text, json_object or json_schema; got '{kind}'.", "response_format.type"),
        };
    }

    private static SchemaNode Schema(JsonElement format)
    {
        if (!format.TryGetProperty("json_schema", out var spec) || spec.ValueKind != JsonValueKind.Object)
            throw OpenAiException.Invalid("'response_format.json_schema' is required with type json_schema: {\"name\": …, \"schema\": {…}}.", "response_format.json_schema");
        Only(spec, "response_format.json_schema", ["name", "description", "schema", "strict"]);
        if (!spec.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || !ValidName(name.GetString()!))
            throw OpenAiException.Invalid("'response_format.json_schema.name' is required: letters, digits, '_' and '-', at most 64.", "response_format.json_schema.name");
        if (spec.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            throw OpenAiException.Invalid("'response_format.json_schema.strict' must be a boolean.", "response_format.json_schema.strict");
        if (!spec.TryGetProperty("schema", out var schema))
            return SchemaNode.Any; // OpenAI allows a format with no schema: any JSON value
        try
        {
            return JsonSchemaCompiler.Compile(schema);
        }
        catch (UnsupportedSchemaException e)
        {
            throw OpenAiException.Invalid(e.Message, "response_format.json_schema.schema" + (e.Path.Length > 0 ? "." + e.Path : ""), "unsupported_schema");
        }
    }

    private static void Only(JsonElement obj, string path, string[] allowed)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (!allowed.Contains(p.Name))
                throw OpenAiException.Invalid($"Unknown parameter: '{path}.{p.Name}'.", $"{path}.{p.Name}", "unknown_parameter");
        }
    }

    private static bool ValidName(string name) => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
