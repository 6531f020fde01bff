using System.Text;
using System.Text.Json;
using TokenFactory.Constraints;

namespace TokenFactory.Tests.Constraints;

public sealed class JsonMatcherTests
{
    private static SchemaNode Schema(string json) => JsonSchemaCompiler.Compile(JsonDocument.Parse(json).RootElement);

    /// <summary>The matcher after the whole text, or null at the first byte it refuses.</summary>
    private static JsonMatcher? Feed(SchemaNode schema, string text) => JsonMatcher.Start(schema).Advance(Encoding.UTF8.GetBytes(text));

    private const string Pet = """
        {"type": "object", "additionalProperties": false, "required": ["name", "age", "kind"],
         "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "kind": {"enum": ["cat", "dog"]},
                        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
                        "owner": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
        """;

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"a\":1}")]
    [InlineData("{ \"a\" : [1, -2.5e+3, 0, \"x\", true, false, null, {\"b\": {}}] }")]
    [InlineData("{\"k\":\"\\u00e9\\n\\\"q\\\" é 日本 😀\"}")]
    [InlineData("{\n  \"a\": {\n    \"b\": []\n  }\n}")]
    public void Json_object_accepts_any_object_and_ends_at_its_closing_brace(string text)
    {
        var end = Feed(JsonSchemaCompiler.AnyObject, text);
        Assert.NotNull(end);
        Assert.True(end.MustEnd);
        Assert.True(end.CanEnd);
        Assert.Null(end.Advance(" "u8)); // nothing may follow the closed value
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("{\"a\"}")]
    [InlineData("{\"a\":01}")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\":\"\\u12G4\"}")]
    [InlineData("{\"a\":\"\u0001\"}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":tru}")]
    [InlineData("{\"a\":1}}")]
    [InlineData("{\"a\":-}")]
    [InlineData("{\"a\":1.}")]
    [InlineData("{\n\n\"a\":1}")] // two line breaks in a row: bounded whitespace
    public void Json_object_refuses_what_is_not_one_valid_object(string text) =>
        Assert.Null(Feed(JsonSchemaCompiler.AnyObject, text)); // refused at the offending byte, which is what the mask relies on

    [Theory]
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\"}", true)]
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"tags\":[\"a\",\"b\",\"c\"],\"owner\":null}", true)]
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"owner\":\"Ann\"}", true)]
    [InlineData("{\"name\":\"Rex\",\"kind\":\"dog\"}", false)]                       // a required key skipped
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"cow\"}", false)]             // not in the enum
    [InlineData("{\"name\":\"Rex\",\"age\":3.5,\"kind\":\"dog\"}", false)]           // not an integer
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"tags\":[]}", false)] // minItems 1
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", false)] // maxItems 3
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"color\":\"red\"}", false)] // additionalProperties false
    [InlineData("{\"age\":3,\"name\":\"Rex\",\"kind\":\"dog\"}", false)]             // keys in the schema's order
    [InlineData("{\"name\":\"Rex\",\"age\":3,\"kind\":\"dog\",\"owner\":1}", false)]  // anyOf string | null
    public void A_schema_allows_exactly_its_documents(string text, bool valid)
    {
        var end = Feed(Schema(Pet), text);
        if (valid)
            Assert.True(end is { MustEnd: true });
        else
            Assert.Null(end);
    }

    [Fact]
    public void Keys_and_literals_are_spelled_as_a_model_writes_them_and_a_type_beside_an_enum_filters_it()
    {
        var schema = Schema("""{"type": "object", "required": ["café"], "properties": {"café": {"type": "string", "enum": ["C++", 1, "naïve"]}}}""");
        Assert.True(Feed(schema, "{\"café\":\"C++\"}") is { MustEnd: true });
        Assert.True(Feed(schema, "{\"café\":\"naïve\"}") is { MustEnd: true });
        Assert.Null(Feed(schema, "{\"café\":1"));
    }

    [Fact]
    public void A_recursive_ref_and_a_top_level_number_are_followed()
    {
        var tree = Schema("""
            {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "required": ["v"],
              "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}
            """);
        Assert.True(Feed(tree, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[{\"v\":4}]}]}") is { MustEnd: true });
        Assert.Null(Feed(tree, "{\"v\":1,\"kids\":[{\"w\":2}]}"));
        // A finite recursive definition the root never uses is no reason to refuse; an endless one still is.
        Assert.NotNull(Schema("""{"type": "string", "$defs": {"list": {"type": "array", "items": {"$ref": "#/$defs/list"}}}}"""));
        Assert.Equal("$defs.loop.items.$ref", Assert.Throws<UnsupportedSchemaException>(() =>
            Schema("""{"type": "string", "$defs": {"loop": {"type": "array", "items": {"$ref": "#/$defs/loop"}, "minItems": 1}}}""")).Path);

        var number = Schema("""{"type": "number"}""");
        var twelve = Feed(number, "12");
        Assert.True(twelve is { CanEnd: true, MustEnd: false }); // 12 may be all, or go on to 123
        Assert.NotNull(twelve!.Advance("3.5e-2"u8));
        Assert.False(Feed(number, "12.")!.CanEnd);
    }

    [Theory]
    [InlineData("""{"type": "string", "pattern": "^a"}""", "pattern")]
    [InlineData("""{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}""", "properties.n.minimum")]
    [InlineData("""{"oneOf": [{"type": "string"}]}""", "oneOf")]
    [InlineData("""{"type": "string", "format": "date"}""", "format")]
    [InlineData("""{"type": "string", "items": {}}""", "items")]
    [InlineData("""{"type": "object", "properties": {"a": {}}, "additionalProperties": true}""", "additionalProperties")]
    [InlineData("""{"$ref": "#/$defs/missing"}""", "$ref")]
    [InlineData("""{"$ref": "#"}""", "$ref")]
    [InlineData("""{"$ref": "#/$defs/a", "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}}""", "$ref")] // the first $ref found in the cycle
    [InlineData("""{"type": "object", "properties": {"a": {}}, "anyOf": [{"required": ["a"]}]}""", "type")]
    [InlineData("""{"type": "string", "enum": ["a"], "maxLength": 3}""", "maxLength")]
    [InlineData("""{"type": "string", "enum": [1, 2]}""", "enum")]
    [InlineData("""{"type": "object", "required": ["a"], "additionalProperties": false}""", "required")]
    // Values that never end: the model would be held in them until its length ran out.
    [InlineData("""{"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]}""", "properties.self.$ref")]
    [InlineData("""{"type": "array", "items": {"$ref": "#"}, "minItems": 1}""", "items.$ref")]
    [InlineData("""{"type": "object", "properties": {"t": {"$ref": "#/$defs/trap"}}, "$defs": {"trap": {"type": "array", "items": {"$ref": "#/$defs/trap"}, "minItems": 2}}}""", "properties.t.$ref")]
    // Names that are not strings: a 400 naming where, not an InvalidOperationException (a 500).
    [InlineData("""{"type": "object", "properties": {"a": {}}, "required": [1]}""", "required")]
    [InlineData("""{"$ref": 1}""", "$ref")]
    [InlineData("""{"type": ["string", 1]}""", "type")]
    [InlineData("""{"enum": ["a"], "type": 5}""", "type")]
    public void What_cannot_be_enforced_is_refused_naming_the_keyword(string schema, string path)
    {
        var e = Assert.Throws<UnsupportedSchemaException>(() => Schema(schema));
        Assert.Equal(path, e.Path);
    }
}
