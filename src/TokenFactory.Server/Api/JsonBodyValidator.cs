using System.Text;
using System.Text.Json;

namespace TokenFactory.Server.Api;

/// <summary>
/// One pass over a request body before it is deserialized: every string (values and keys) must be valid
/// Unicode, that is well-formed UTF-8 with no escaped lone surrogate (<c>\ud800</c>), and no object may repeat
/// a key. System.Text.Json checks a string only when a typed property reads it; fields kept as JSON
/// (<c>messages</c>, <c>tools</c>, prompt arrays) would otherwise fail later, deep inside the request, and a
/// repeated key inside them breaks the object that holds them. The error names the field's path.
/// </summary>
internal static class JsonBodyValidator
{
    /// <summary>
    /// Throws a 400 naming the first bad string or repeated key. Malformed JSON is left to the deserializer,
    /// whose message says where the syntax broke.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        var path = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        var frame = path[^1];
                        frame.Property = null;
                        if (!TryGetString(ref reader, out string? key))
                            throw OpenAiException.Invalid($"A key in {Describe(path)} is not valid UTF-8 text.", Param(path), "invalid_string");
                        frame.Property = key;
                        if (!(frame.Keys ??= new HashSet<string>(StringComparer.Ordinal)).Add(key))
                            throw OpenAiException.Invalid($"'{Param(path)}' appears twice in the same object.", Param(path), "duplicate_key");
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        NextElement(path);
                        path.Add(new Frame { IsArray = reader.TokenType == JsonTokenType.StartArray });
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        break;
                    case JsonTokenType.String:
                        NextElement(path);
                        if (!TryGetString(ref reader, out _))
                            throw OpenAiException.Invalid(
                                $"{Describe(path)} is not valid text: it holds bytes that are not UTF-8, or an escaped lone surrogate such as \\ud800.",
                                Param(path), "invalid_string");
                        break;
                    default:
                        NextElement(path);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Malformed: the deserializer reports it with its position.
        }
    }

    private static bool TryGetString(ref Utf8JsonReader reader, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        value = null;
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            if (!System.Text.Unicode.Utf8.IsValid(reader.ValueSpan))
                return false;
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                value = ""; // values need only the check; keys are kept for the duplicate test
                return true;
            }
        }
        try
        {
            value = reader.GetString() ?? "";
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void NextElement(List<Frame> path)
    {
        if (path.Count > 0 && path[^1].IsArray)
            path[^1].Index++;
    }

    /// <summary><c>messages[0].content</c>; null at the top level.</summary>
    private static string? Param(List<Frame> path)
    {
        var sb = new StringBuilder();
        foreach (var f in path)
        {
            if (f.IsArray)
            {
                if (f.Index >= 0)
                    sb.Append('[').Append(f.Index).Append(']');
            }
            else if (f.Property is not null)
            {
                if (sb.Length > 0)
                    sb.Append('.');
                sb.Append(f.Property);
            }
        }
        return sb.Length > 0 ? sb.ToString() : null;
    }

    private static string Describe(List<Frame> path) => Param(path) is { } p ? $"'{p}'" : "the request body";

    private sealed class Frame
    {
        public bool IsArray;
        public int Index = -1;
        public string? Property;
        public HashSet<string>? Keys;
    }
}
