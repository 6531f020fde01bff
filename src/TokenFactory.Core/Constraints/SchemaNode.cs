namespace TokenFactory.Constraints;

/// <summary>What a JSON value may be: one node of a compiled schema (<see cref="JsonSchemaCompiler"/>).</summary>
public abstract class SchemaNode
{
    /// <summary>Any JSON value (an empty schema, <c>true</c>, or what <c>json_object</c> puts inside its object).</summary>
    public static readonly SchemaNode Any = new AnyNode();
}

public sealed class AnyNode : SchemaNode;

public sealed class StringNode : SchemaNode;

public sealed class NumberNode(bool integer) : SchemaNode
{
    public bool Integer { get; } = integer;
}

public sealed class BooleanNode : SchemaNode;

public sealed class NullNode : SchemaNode;

/// <summary><c>enum</c> and <c>const</c>: the value is one of these JSON texts, byte for byte (compact, as the schema spells them).</summary>
public sealed class LiteralNode(IReadOnlyList<byte[]> texts) : SchemaNode
{
    public IReadOnlyList<byte[]> Texts { get; } = texts;
}

/// <summary><c>anyOf</c> (and a <c>type</c> list): the value matches one of these.</summary>
public sealed class AnyOfNode(IReadOnlyList<SchemaNode> choices) : SchemaNode
{
    public IReadOnlyList<SchemaNode> Choices { get; } = choices;
}

public sealed class ArrayNode(SchemaNode items, int minItems, int maxItems) : SchemaNode
{
    public SchemaNode Items { get; } = items;
    public int MinItems { get; } = minItems;
    public int MaxItems { get; } = maxItems;
}

/// <summary>
/// An object. With <see cref="Properties"/>, exactly those keys, in the schema's order, the required ones always
/// (a fixed order lets the key be matched as a literal, and is what strict structured output produces); without
/// them, any keys, each value matching <see cref="Additional"/>.
/// </summary>
public sealed class ObjectNode(IReadOnlyList<ObjectProperty> properties, SchemaNode additional) : SchemaNode
{
    public IReadOnlyList<ObjectProperty> Properties { get; } = properties;
    public SchemaNode Additional { get; } = additional;
    public bool FreeKeys => Properties.Count == 0;
}

/// <param name="Key">The key as a JSON string, quotes included (what must appear in the output).</param>
public sealed record ObjectProperty(string Name, byte[] Key, SchemaNode Value, bool Required);

/// <summary>A <c>$ref</c> resolved after its <c>$defs</c> are compiled (schemas may refer to themselves).</summary>
public sealed class RefNode : SchemaNode
{
    public SchemaNode? Target { get; set; }
    public SchemaNode Resolved => Target ?? throw new InvalidOperationException("unresolved $ref");
}

/// <summary>Fixed text, then a value of <see cref="Inner"/>, then fixed text: a tool call in its family's markup (<c>&lt;tool_call&gt;…&lt;/tool_call&gt;</c>).</summary>
public sealed class WrappedNode(byte[] prefix, SchemaNode inner, byte[] suffix) : SchemaNode
{
    public byte[] Prefix { get; } = prefix;
    public SchemaNode Inner { get; } = inner;
    public byte[] Suffix { get; } = suffix;
}
