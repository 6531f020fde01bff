using System.Runtime.InteropServices;
using System.Text;
using TokenFactory.Kv;

namespace TokenFactory.Router.Routing;

/// <summary>
/// What the router knows of a request's prompts before it routes them: how many tokens they hold and the chain of
/// full-block hashes of the first one (what a replica's prefix cache would hold after computing it). Exact when the
/// router tokenized the prompt as the replica will; otherwise estimated from its text.
/// </summary>
public sealed record PromptShape(long Tokens, ulong[] Blocks, bool Exact)
{
    public const int BlockTokens = KvBlockPool.DefaultBlockSize;

    /// <summary>The replica's own rule: full blocks only, and at least one token of the prompt is always computed.</summary>
    public static PromptShape FromTokens(IReadOnlyList<int> tokens, long totalTokens)
    {
        int blocks = (tokens.Count - 1) / BlockTokens;
        var chain = new ulong[Math.Max(0, blocks)];
        var span = tokens is int[] array ? array.AsSpan() : CollectionsMarshal.AsSpan(tokens.ToList());
        ulong hash = BlockHash.Root;
        for (int b = 0; b < chain.Length; b++)
            chain[b] = hash = BlockHash.Chain(hash, span.Slice(b * BlockTokens, BlockTokens));
        return new PromptShape(totalTokens, chain, Exact: true);
    }

    /// <summary>
    /// Without the model's tokenizer: about 4 bytes of text a token, and a chain over 64-byte pieces of the text,
    /// which keeps the property that matters for routing: the same leading text gives the same leading hashes.
    /// </summary>
    public static PromptShape FromText(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int pieces = Math.Max(0, (bytes.Length - 1) / 64);
        var chain = new ulong[pieces];
        ulong hash = BlockHash.Root;
        for (int b = 0; b < pieces; b++)
            chain[b] = hash = BlockHash.Chain(hash, MemoryMarshal.Cast<byte, int>(bytes.AsSpan(b * 64, 64)));
        return new PromptShape(Math.Max(1, bytes.Length / 4), chain, Exact: false);
    }
}
