using TokenFactory.Engine;
using TokenFactory.Server.Contracts;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Generation;

/// <summary>Engine logprobs in OpenAI's two shapes: chat's <c>content[]</c> entries and legacy completions' parallel arrays.</summary>
internal static class LogprobMapper
{
    /// <summary>JSON has no -Infinity; OpenAI reports impossible tokens as -9999.</summary>
    public static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : -9999f;

    public static ChatTokenLogprob? ForChat(ITokenizer tokenizer, GenerationUpdate update, bool ignoreEos)
    {
        if (update.Token < 0 || update.Logprob is not float logprob || (!ignoreEos && tokenizer.IsEndOfGeneration(update.Token)))
            return null;
        return new ChatTokenLogprob
        {
            Token = tokenizer.TokenPiece(update.Token),
            Logprob = Finite(logprob),
            Bytes = Bytes(tokenizer, update.Token),
            TopLogprobs = update.TopLogprobs?.Select(t => new ChatTopLogprob { Token = t.Text, Logprob = Finite(t.Logprob), Bytes = Bytes(tokenizer, t.Token) }).ToList() ?? [],
        };
    }

    public static Dictionary<string, float>? TopDictionary(TokenLogprob[]? top)
    {
        if (top is null)
            return null;
        var result = new Dictionary<string, float>(top.Length, StringComparer.Ordinal);
        foreach (var t in top)
            result.TryAdd(t.Text, Finite(t.Logprob)); // two ids can share a text (byte fallback); keep the likelier
        return result;
    }

    private static int[] Bytes(ITokenizer tokenizer, int token) => [.. tokenizer.TokenBytes(token).Select(b => (int)b)];
}
