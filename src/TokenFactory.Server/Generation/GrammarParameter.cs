using System.Collections.Concurrent;
using TokenFactory.Constraints;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Generation;

/// <summary>
/// The <c>grammar</c> request field (llama.cpp's extension): a GBNF grammar the answer must match, enforced token by
/// token like a JSON schema. Read once per distinct grammar text and kept (agents send the same grammar again and again).
/// </summary>
internal static class GrammarParameter
{
    private const int CacheSize = 64;
    private static readonly ConcurrentDictionary<string, GrammarNode> Cache = new(StringComparer.Ordinal);

    /// <summary>The grammar's root, or null when the request has none.</summary>
    /// <exception cref="OpenAiException">400 <c>invalid_grammar</c> naming <c>grammar</c>, with what is wrong and where.</exception>
    public static GrammarNode? Parse(string? grammar)
    {
        if (grammar is null)
            return null;
        if (Cache.TryGetValue(grammar, out var known))
            return known;
        GrammarNode root;
        try
        {
            root = GbnfGrammar.Parse(grammar);
        }
        catch (GrammarException e)
        {
            throw OpenAiException.Invalid(e.Message, "grammar", "invalid_grammar");
        }
        if (Cache.Count >= CacheSize)
            Cache.Clear(); // many distinct grammars: start over rather than grow
        Cache[grammar] = root;
        return root;
    }

    /// <summary>The constraint of a request: its grammar, or its JSON schema / forced call, never both.</summary>
    /// <exception cref="OpenAiException">400 naming <c>grammar</c> when both are given.</exception>
    public static SchemaNode? Combine(string? grammar, SchemaNode? schema, string schemaParam)
    {
        var root = Parse(grammar);
        if (root is not null && schema is not null)
            throw OpenAiException.Invalid($"'grammar' cannot be combined with '{schemaParam}': the answer can follow one constraint.", "grammar");
        return root ?? schema;
    }
}
