using System.Text;
using System.Text.Json;

namespace TokenFactory.Constraints;

/// <summary>A schema keyword the constrained decoder cannot enforce; the server turns it into a 400 naming the keyword.</summary>
public sealed class UnsupportedSchemaException(string path, string message) : TokenFactoryException(message)
{
    /// <summary>Where in the schema, e.g. <c>properties.age.minimum</c>.</summary>
    public string Path { get; } = path;
}

/// <summary>
/// Compiles the JSON Schema subset agents use into <see cref="SchemaNode"/>s: <c>type</c> (one or a list), objects with
/// <c>properties</c>/<c>required</c>/<c>additionalProperties</c>, arrays with <c>items</c>/<c>minItems</c>/<c>maxItems</c>,
/// <c>enum</c>, <c>const</c>, <c>anyOf</c>, <c>$ref</c> into <c>$defs</c>/<c>definitions</c>. Every other keyword that
/// constrains a value is refused, not ignored: output would otherwise claim to follow a schema it does not.
/// </summary>
public static class JsonSchemaCompiler
{
    /// <summary>Keywords that only describe (they constrain nothing), accepted anywhere.</summary>
    private static readonly HashSet<string> Annotations = ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];

    private const int UnboundedItems = int.MaxValue;

    /// <summary>The grammar of <c>response_format: json_object</c>: one object, any keys and values.</summary>
    public static SchemaNode AnyObject { get; } = new ObjectNode([], SchemaNode.Any);

    /// <exception cref="UnsupportedSchemaException">A keyword or shape it cannot enforce.</exception>
    public static SchemaNode Compile(JsonElement schema)
    {
        var defs = new Dictionary<string, RefNode>(StringComparer.Ordinal);
        var refs = new List<(RefNode Node, string Path, string Target)>();
        var root = Node(schema, "", defs, refs);
        foreach (var container in new[] { "$defs", "definitions" })
        {
            if (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty(container, out var all))
            {
                if (all.ValueKind != JsonValueKind.Object)
                    throw new UnsupportedSchemaException(container, $"'{container}' must be an object of schemas.");
                foreach (var def in all.EnumerateObject())
                    Slot(defs, $"#/{container}/{def.Name}").Target = Node(def.Value, $"{container}.{def.Name}", defs, refs);
            }
        }
        foreach (var (node, path, target) in refs)
        {
            if (target == "#")
                node.Target = root;
            else if (defs.TryGetValue(target, out var slot) && slot.Target is not null)
                node.Target = slot.Target;
            else
                throw new UnsupportedSchemaException(path, $"'$ref' '{target}' names no schema in $defs or definitions.");
        }
        foreach (var (node, path, target) in refs)
        {
            if (ReachesItself(node.Resolved, node.Resolved, []))
                throw new UnsupportedSchemaException(path, $"'$ref' '{target}' refers back to itself before any value is read: no JSON could ever match it.");
        }
        // Only a $ref can make a value that never ends (an object that requires itself, an array of at least one of
        // itself): the model would be held in it until its length ran out. Every $ref must admit some finite value.
        var finite = FiniteNodes([root, .. refs.Select(r => (SchemaNode)r.Node)]); // definitions the root never uses included
        foreach (var (node, path, target) in refs)
        {
            if (!finite.Contains(node))
                throw new UnsupportedSchemaException(path, $"'$ref' '{target}' requires itself without end: no finite JSON matches it.");
        }
        return root;
    }

    /// <summary>
    /// The nodes reachable from <paramref name="roots"/> that some finite JSON text matches: the least fixed point, from the
    /// scalars up (an object needs its required values, a non-empty array its items, a choice one of its choices).
    /// </summary>
    private static HashSet<SchemaNode> FiniteNodes(IEnumerable<SchemaNode> roots)
    {
        var nodes = new List<SchemaNode>();
        var seen = new HashSet<SchemaNode>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<SchemaNode>(roots);
        while (stack.TryPop(out var n))
        {
            if (!seen.Add(n))
                continue;
            nodes.Add(n);
            foreach (var child in Children(n))
                stack.Push(child);
        }
        var finite = new HashSet<SchemaNode>(ReferenceEqualityComparer.Instance);
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var n in nodes)
            {
                bool ends = n switch
                {
                    LiteralNode l => l.Texts.Count > 0,
                    AnyOfNode a => a.Choices.Any(finite.Contains),
                    ArrayNode a => a.MinItems == 0 || finite.Contains(a.Items),
                    ObjectNode o => o.FreeKeys || o.Properties.All(p => !p.Required || finite.Contains(p.Value)),
                    RefNode r => finite.Contains(r.Resolved),
                    WrappedNode w => finite.Contains(w.Inner),
                    _ => true, // any value, strings, numbers, booleans, null
                };
                if (ends && finite.Add(n))
                    grew = true;
            }
        }
        return finite;
    }

    private static IEnumerable<SchemaNode> Children(SchemaNode node) => node switch
    {
        AnyOfNode a => a.Choices,
        ArrayNode a => [a.Items],
        ObjectNode o => [.. o.Properties.Select(p => p.Value), o.Additional],
        RefNode r => [r.Resolved],
        WrappedNode w => [w.Inner],
        _ => [],
    };

    /// <summary>Whether <paramref name="target"/> is reached from <paramref name="node"/> without reading a byte (through $ref and anyOf).</summary>
    private static bool ReachesItself(SchemaNode node, SchemaNode target, HashSet<SchemaNode> seen)
    {
        IReadOnlyList<SchemaNode> next = node switch
        {
            RefNode r => [r.Resolved],
            AnyOfNode a => a.Choices,
            WrappedNode { Prefix.Length: 0 } w => [w.Inner],
            _ => [],
        };
        return next.Any(n => ReferenceEquals(n, target) || (seen.Add(n) && ReachesItself(n, target, seen)));
    }

    private static RefNode Slot(Dictionary<string, RefNode> defs, string name) =>
        defs.TryGetValue(name, out var slot) ? slot : defs[name] = new RefNode();

    private static SchemaNode Node(JsonElement s, string path, Dictionary<string, RefNode> defs, List<(RefNode, string, string)> refs)
    {
        if (s.ValueKind == JsonValueKind.True)
            return SchemaNode.Any;
        if (s.ValueKind != JsonValueKind.Object)
            throw new UnsupportedSchemaException(path, $"A schema must be an object or true{At(path)}.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in s.EnumerateObject())
        {
            seen.Add(p.Name);
            if (!Annotations.Contains(p.Name) && !Handled.Contains(p.Name))
                throw new UnsupportedSchemaException(Join(path, p.Name),
                    $"The schema keyword '{p.Name}'{At(path)} is not supported by constrained decoding. Supported: type, properties, required, additionalProperties, items, minItems, maxItems, enum, const, anyOf, $ref, $defs.");
        }
        if (s.TryGetProperty("$ref", out var reference))
        {
            if (seen.Count(k => !Annotations.Contains(k) && k is not "$defs" and not "definitions") > 1)
                throw new UnsupportedSchemaException(Join(path, "$ref"), $"'$ref'{At(path)} must stand alone (beside annotations only).");
            var node = new RefNode();
            refs.Add((node, Join(path, "$ref"), Text(reference, Join(path, "$ref"), "'$ref'")));
            return node;
        }
        if (s.TryGetProperty("const", out var constant) || s.TryGetProperty("enum", out _))
            return Literals(s, path);
        if (s.TryGetProperty("anyOf", out var anyOf))
        {
            if (seen.FirstOrDefault(k => !Annotations.Contains(k) && k is not ("anyOf" or "$defs" or "definitions")) is { } beside)
                throw new UnsupportedSchemaException(Join(path, beside), $"'{beside}' beside 'anyOf'{At(path)} is not supported: move it into each choice.");
            if (anyOf.ValueKind != JsonValueKind.Array || anyOf.GetArrayLength() == 0)
                throw new UnsupportedSchemaException(Join(path, "anyOf"), $"'anyOf'{At(path)} must be a non-empty array.");
            if (anyOf.GetArrayLength() > JsonMatcher.MaxAlternatives)
                throw new UnsupportedSchemaException(Join(path, "anyOf"), $"'anyOf'{At(path)} has {anyOf.GetArrayLength()} choices; constrained decoding follows at most {JsonMatcher.MaxAlternatives}.");
            return new AnyOfNode([.. anyOf.EnumerateArray().Select((a, i) => Node(a, $"{Join(path, "anyOf")}[{i}]", defs, refs))]);
        }
        if (!s.TryGetProperty("type", out var type))
            return seen.Overlaps(["properties", "required", "additionalProperties"]) ? Typed("object", s, path, defs, refs)
                : seen.Overlaps(["items", "minItems", "maxItems"]) ? Typed("array", s, path, defs, refs)
                : SchemaNode.Any;
        if (type.ValueKind == JsonValueKind.String)
            return Typed(type.GetString()!, s, path, defs, refs);
        if (type.ValueKind == JsonValueKind.Array && type.GetArrayLength() > 0)
            return new AnyOfNode([.. type.EnumerateArray().Select(t => Typed(Text(t, Join(path, "type"), "Each 'type'"), s, path, defs, refs))]);
        throw new UnsupportedSchemaException(Join(path, "type"), $"'type'{At(path)} must be a type name or a list of them.");
    }

    /// <summary>
    /// <c>enum</c> or <c>const</c>, with a <c>type</c> beside it kept as the filter it is (values of another type are
    /// dropped); any other keyword beside them is refused.
    /// </summary>
    private static LiteralNode Literals(JsonElement s, string path)
    {
        string word = s.TryGetProperty("const", out _) ? "const" : "enum";
        List<JsonElement> values;
        if (word == "const")
            values = [s.GetProperty("const")];
        else if (s.GetProperty("enum") is { ValueKind: JsonValueKind.Array } list && list.GetArrayLength() > 0)
            values = [.. list.EnumerateArray()];
        else
            throw new UnsupportedSchemaException(Join(path, "enum"), $"'enum'{At(path)} must be a non-empty array.");
        foreach (var p in s.EnumerateObject())
        {
            if (!Annotations.Contains(p.Name) && p.Name is not ("type" or "$defs" or "definitions") && p.Name != word)
                throw new UnsupportedSchemaException(Join(path, p.Name), $"'{p.Name}' beside '{word}'{At(path)} is not supported.");
        }
        if (s.TryGetProperty("type", out var type))
        {
            string where = Join(path, "type");
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => Text(t, where, "Each 'type'")).ToHashSet() : [Text(type, where, "'type'")];
            values = [.. values.Where(v => types.Contains(TypeOf(v)) || (TypeOf(v) == "integer" && types.Contains("number")))];
        }
        if (values.Count == 0)
            throw new UnsupportedSchemaException(Join(path, word), $"'{word}'{At(path)} leaves no value (none of them has the 'type' beside it).");
        return new LiteralNode([.. values.Select(Compact)]);
    }

    private static string TypeOf(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "string",
        JsonValueKind.Number => v.TryGetInt64(out _) ? "integer" : "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "array",
        _ => "object",
    };

    private static readonly HashSet<string> Handled =
        ["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "anyOf", "$ref", "$defs", "definitions"];

    private static SchemaNode Typed(string type, JsonElement s, string path, Dictionary<string, RefNode> defs, List<(RefNode, string, string)> refs)
    {
        // A keyword of another type (items on a string) would be silently meaningless: refuse it.
        string[] objectWords = ["properties", "required", "additionalProperties"], arrayWords = ["items", "minItems", "maxItems"];
        foreach (string word in type == "object" ? arrayWords : type == "array" ? objectWords : [.. objectWords, .. arrayWords])
        {
            if (s.TryGetProperty(word, out _) && !(s.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.Array))
                throw new UnsupportedSchemaException(Join(path, word), $"'{word}'{At(path)} does not apply to type '{type}'.");
        }
        return type switch
        {
            "object" => Object(s, path, defs, refs),
            "array" => Array(s, path, defs, refs),
            "string" => new StringNode(),
            "number" => new NumberNode(integer: false),
            "integer" => new NumberNode(integer: true),
            "boolean" => new BooleanNode(),
            "null" => new NullNode(),
            _ => throw new UnsupportedSchemaException(Join(path, "type"), $"Unknown type '{type}'{At(path)}."),
        };
    }

    private static ObjectNode Object(JsonElement s, string path, Dictionary<string, RefNode> defs, List<(RefNode, string, string)> refs)
    {
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
                throw new UnsupportedSchemaException(Join(path, "required"), $"'required'{At(path)} must be an array of names.");
            foreach (var r in req.EnumerateArray())
                required.Add(Text(r, Join(path, "required"), "Each name in 'required'"));
        }
        var properties = new List<ObjectProperty>();
        if (s.TryGetProperty("properties", out var props))
        {
            if (props.ValueKind != JsonValueKind.Object)
                throw new UnsupportedSchemaException(Join(path, "properties"), $"'properties'{At(path)} must be an object.");
            foreach (var p in props.EnumerateObject())
                properties.Add(new ObjectProperty(p.Name, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(p.Name, Minimal)),
                    Node(p.Value, Join(Join(path, "properties"), p.Name), defs, refs), required.Contains(p.Name)));
        }
        foreach (string name in required)
        {
            if (properties.Count > 0 && !properties.Any(p => p.Name == name))
                throw new UnsupportedSchemaException(Join(path, "required"), $"'required'{At(path)} names '{name}', which is not in 'properties'.");
        }
        if (properties.Count == 0 && required.Count > 0)
            throw new UnsupportedSchemaException(Join(path, "required"), $"'required'{At(path)} needs 'properties' that declare those keys.");
        SchemaNode additional = SchemaNode.Any;
        if (s.TryGetProperty("additionalProperties", out var extra))
        {
            if (extra.ValueKind == JsonValueKind.False)
            {
                if (properties.Count == 0)
                    return new ObjectNode([], new LiteralNode([])); // only {}
            }
            else if (properties.Count > 0)
                throw new UnsupportedSchemaException(Join(path, "additionalProperties"),
                    $"'additionalProperties'{At(path)} beside 'properties' must be false: keys beyond the declared ones cannot be enforced with them.");
            else
                additional = Node(extra, Join(path, "additionalProperties"), defs, refs);
        }
        if (properties.Count == 0 && required.Count > 0)
            throw new UnsupportedSchemaException(Join(path, "required"), $"'required'{At(path)} needs 'properties' that declare those keys.");
        return new ObjectNode(properties, additional);
    }

    private static ArrayNode Array(JsonElement s, string path, Dictionary<string, RefNode> defs, List<(RefNode, string, string)> refs)
    {
        var items = s.TryGetProperty("items", out var i) ? Node(i, Join(path, "items"), defs, refs) : SchemaNode.Any;
        int min = Count(s, "minItems", path, 0), max = Count(s, "maxItems", path, UnboundedItems);
        if (min > max)
            throw new UnsupportedSchemaException(Join(path, "minItems"), $"'minItems'{At(path)} is above 'maxItems'.");
        return new ArrayNode(items, min, max);
    }

    private static int Count(JsonElement s, string word, string path, int absent)
    {
        if (!s.TryGetProperty(word, out var v))
            return absent;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw new UnsupportedSchemaException(Join(path, word), $"'{word}'{At(path)} must be a non-negative integer.");
        return n;
    }

    /// <summary>
    /// Escaping only what JSON requires (quote, backslash, control characters): a model writes "café" and "C++" as
    /// they are, and the texts it must match should be spelled that way.
    /// </summary>
    internal static readonly JsonSerializerOptions Minimal = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Compact(JsonElement value) => JsonSerializer.SerializeToUtf8Bytes(value, Minimal);

    /// <summary>A name the schema must spell as a string (a type, a key, a reference); anything else is refused by path.</summary>
    private static string Text(JsonElement value, string path, string what) => value.ValueKind == JsonValueKind.String
        ? value.GetString()!
        : throw new UnsupportedSchemaException(path, $"{what} at '{path}' must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}.");

    private static string Join(string path, string word) => path.Length == 0 ? word : path + "." + word;

    private static string At(string path) => path.Length == 0 ? "" : $" at '{path}'";
}
