using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Constraints;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Constraints;

/// <summary>
/// Random schemas, and random token choices among those the mask allows (as a weightless model would make them):
/// the walk never dead-ends, and every document it completes parses and validates, checked by a validator written
/// separately from the matcher.
/// </summary>
public sealed class StructuredOutputPropertyTests
{
    private static readonly Lazy<Tokenizer> Stories = new(() =>
    {
        using var file = GgufFile.Open(TestPaths.Stories260K);
        return Tokenizer.FromMetadata(file.Metadata);
    });

    [Fact]
    public void Random_walks_through_random_schemas_produce_only_valid_documents()
    {
        var tokenizer = Stories.Value;
        var masker = TokenMasker.For(tokenizer);
        var random = new Random(20261206);
        int completed = 0;
        for (int round = 0; round < 80; round++)
        {
            var schemaJson = RandomSchema(random, depth: 0);
            if (round % 4 == 3) // through a $ref, as schemas with $defs are written
                schemaJson = new JsonObject { ["$ref"] = "#/$defs/root", ["$defs"] = new JsonObject { ["root"] = schemaJson } };
            var schema = JsonSchemaCompiler.Compile(JsonDocument.Parse(schemaJson.ToJsonString()).RootElement);
            var state = JsonMatcher.Start(schema);
            var text = new List<byte>();
            var logits = new float[tokenizer.VocabSize];
            for (int step = 0; step < 400 && !state.MustEnd; step++)
            {
                System.Array.Clear(logits);
                masker.Mask(state, logits);
                var allowed = Enumerable.Range(0, logits.Length).Where(id => !float.IsNegativeInfinity(logits[id]) && !tokenizer.IsEndOfGeneration(id)).ToList();
                Assert.True(allowed.Count > 0 || state.CanEnd, $"dead end after '{Encoding.UTF8.GetString([.. text])}' for {schemaJson.ToJsonString()}");
                if (allowed.Count == 0 || (state.CanEnd && random.Next(4) == 0))
                    break; // a complete top-level number or literal may end here
                // Late in a walk, favour short structural tokens so documents close: a real model's own preference, roughly.
                var pick = step > 25 && allowed.Where(id => IsCloser(tokenizer, id)).ToList() is { Count: > 0 } closers && random.Next(3) > 0
                    ? closers[random.Next(closers.Count)] : allowed[random.Next(allowed.Count)];
                var bytes = tokenizer.TokenBytes(pick, special: false);
                state = masker.Advance(state, pick)!;
                Assert.NotNull(state);
                text.AddRange(bytes);
            }
            if (!state.CanEnd)
                continue; // ran out of steps: a valid prefix, like finish_reason "length"
            completed++;
            string output = Encoding.UTF8.GetString([.. text]);
            var value = JsonNode.Parse(output); // throws if not JSON
            string? error = Validate(value, schemaJson, schemaJson);
            Assert.True(error is null, $"{error}\nschema: {schemaJson.ToJsonString()}\noutput: {output}");
        }
        Assert.True(completed >= 40, $"only {completed} of 80 walks completed a document");
    }

    private static bool IsCloser(Tokenizer tokenizer, int id)
    {
        var b = tokenizer.TokenBytes(id, special: false);
        return b.Length == 1 && b[0] is (byte)'"' or (byte)'}' or (byte)']' or (byte)',' or (byte)':' or (byte)'{' or (byte)'[' or (byte)'1' or (byte)'t' or (byte)'n';
    }

    private static JsonObject RandomSchema(Random random, int depth)
    {
        int kind = random.Next(depth >= 2 ? 7 : 11);
        return kind switch
        {
            0 => new JsonObject { ["type"] = "string" },
            1 => new JsonObject { ["type"] = "integer" },
            2 => new JsonObject { ["type"] = "number" },
            3 => new JsonObject { ["type"] = "boolean" },
            4 => new JsonObject { ["type"] = "null" },
            5 => new JsonObject { ["enum"] = new JsonArray("red", 7, "a\"b", true, null) },
            6 => new JsonObject { ["const"] = "fixed" },
            7 => Array(random, depth),
            8 => new JsonObject { ["anyOf"] = new JsonArray(RandomSchema(random, depth + 1), RandomSchema(random, depth + 1)) },
            9 => new JsonObject { ["type"] = "object", ["additionalProperties"] = RandomSchema(random, depth + 1) }, // free keys
            _ => Object(random, depth),
        };
    }

    private static JsonObject Array(Random random, int depth)
    {
        int min = random.Next(3);
        return new JsonObject { ["type"] = "array", ["items"] = RandomSchema(random, depth + 1), ["minItems"] = min, ["maxItems"] = min + random.Next(3) };
    }

    private static JsonObject Object(Random random, int depth)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        int count = 1 + random.Next(3);
        for (int i = 0; i < count; i++)
        {
            string name = $"k{i}";
            properties[name] = RandomSchema(random, depth + 1);
            if (random.Next(2) == 0)
                required.Add(name);
        }
        return new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required, ["additionalProperties"] = false };
    }

    /// <summary>A validator for the same subset, written apart from the matcher: null when <paramref name="value"/> is valid.</summary>
    private static string? Validate(JsonNode? value, JsonObject schema, JsonObject root)
    {
        if (schema["$ref"] is JsonValue reference)
            return Validate(value, root["$defs"]![reference.GetValue<string>()["#/$defs/".Length..]]!.AsObject(), root);
        if (schema["const"] is { } constant)
            return JsonNode.DeepEquals(value, constant) ? null : $"{value} is not the const";
        if (schema["const"] is null && schema.ContainsKey("const"))
            return value is null ? null : $"{value} is not null";
        if (schema["enum"] is JsonArray options)
            return options.Any(o => JsonNode.DeepEquals(o, value)) ? null : $"{value?.ToJsonString() ?? "null"} is not in the enum";
        if (schema["anyOf"] is JsonArray choices)
            return choices.Any(c => Validate(value, c!.AsObject(), root) is null) ? null : $"{value} matches no anyOf choice";
        string? type = (string?)schema["type"];
        switch (type)
        {
            case "null":
                return value is null ? null : "not null";
            case "boolean":
                return value is JsonValue b && b.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? null : "not a boolean";
            case "string":
                return value is JsonValue s && s.GetValueKind() == JsonValueKind.String ? null : "not a string";
            case "number":
                return value is JsonValue n && n.GetValueKind() == JsonValueKind.Number ? null : "not a number";
            case "integer":
                return value is JsonValue i && i.GetValueKind() == JsonValueKind.Number && !i.ToJsonString().Any(c => c is '.' or 'e' or 'E') ? null : "not an integer";
            case "array":
                if (value is not JsonArray array)
                    return "not an array";
                if (array.Count < (int)schema["minItems"]! || array.Count > (int)schema["maxItems"]!)
                    return $"{array.Count} items";
                return array.Select(item => Validate(item, schema["items"]!.AsObject(), root)).FirstOrDefault(e => e is not null);
            case "object":
                if (value is not JsonObject obj)
                    return "not an object";
                if (schema["properties"] is null)
                    return obj.Select(kv => Validate(kv.Value, schema["additionalProperties"]!.AsObject(), root)).FirstOrDefault(e => e is not null);
                var props = schema["properties"]!.AsObject();
                foreach (var r in schema["required"]!.AsArray())
                    if (!obj.ContainsKey((string)r!))
                        return $"missing {r}";
                foreach (var (key, v) in obj)
                {
                    if (props[key] is not JsonObject sub)
                        return $"unexpected key {key}";
                    if (Validate(v, sub, root) is { } e)
                        return $"{key}: {e}";
                }
                return null;
            default:
                return $"unknown type {type}";
        }
    }
}
