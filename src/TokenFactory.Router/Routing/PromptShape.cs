using System.Runtime.InteropServices;
using System.Text;
using TokenFactory.Kv;

namespace TokenFactory.Router.Routing;

/// <summary>
/// What the router knows of a request's prompts before it routes them: how many tokens they hold and the chain of
/// full-block hashes of the first one (what a replica's prefix cache would hold after computing it). Exact when the
/// router tokenized the prompt as the replica will; otherwise estimated from its text, with
/// <see cref="MostTokens"/> a bound the prompt cannot exceed (what the floor reserves, so a budget is never overspent).
/// </summary>
public sealed record PromptShape(long Tokens, ulong[] Blocks, bool Exact)
{
    /// <summary>Template tokens allowed per message, and once per request, when the router cannot render the template.</summary>
    public const int TemplateAllowancePerMessage = 32, TemplateAllowance = 256;

    /// <summary>The most tokens the prompts can hold: <see cref="Tokens"/> when exact.</summary>
    public long MostTokens { get; init; } = Tokens;

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
    /// which keeps the property that matters for routing: the same leading text gives the same leading hashes. No
    /// tokenizer makes more tokens than bytes (each token is at least one byte of text), so the bound is the bytes plus
    /// what a chat template may add around <paramref name="messages"/> messages.
    /// </summary>
    public static PromptShape FromText(string text, int messages = 0)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int pieces = Math.Max(0, (bytes.Length - 1) / 64);
        var chain = new ulong[pieces];
        ulong hash = BlockHash.Root;
        for (int b = 0; b < pieces; b++)
            chain[b] = hash = BlockHash.Chain(hash, MemoryMarshal.Cast<byte, int>(bytes.AsSpan(b * 64, 64)));
        long most = bytes.Length + 2 + (messages > 0 ? (long)messages * TemplateAllowancePerMessage + TemplateAllowance : 0); // + BOS/EOS
        return new PromptShape(Math.Max(1, bytes.Length / 4), chain, Exact: false) { MostTokens = most };
    }
}
