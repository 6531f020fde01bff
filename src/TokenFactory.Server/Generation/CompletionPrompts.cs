using System.Text.Json.Nodes;
using TokenFactory.Server.Api;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Generation;

/// <summary>A legacy completions prompt: its text (for echo) and its tokens.</summary>
internal sealed record CompletionPrompt(string Text, int[] Tokens);

internal static class CompletionPrompts
{
    /// <summary>Prompts in one batch (an array of strings or of token-id arrays); a single token-id array may be of any length.</summary>
    public const int MaxPrompts = 128;

    /// <summary>
    /// OpenAI's four shapes: a string and an array of token ids are one prompt; an array of strings and an
    /// array of token-id arrays are a batch (one choice per prompt, times n). Anything else, mixed arrays
    /// included, is a 400. Text is tokenized as llama.cpp's /completion does: BOS per the vocabulary,
    /// control-token texts parsed; token ids are used as given.
    /// </summary>
    public static List<CompletionPrompt> Parse(JsonNode? prompt, ITokenizer tokenizer)
    {
        switch (prompt)
        {
            case null:
                throw OpenAiException.Invalid("'prompt' is required.", "prompt");
            case JsonValue v when v.TryGetValue(out string? text):
                return [FromText(text, tokenizer)];
            case JsonArray { Count: 0 }:
                throw OpenAiException.Invalid("'prompt' must not be an empty array.", "prompt");
            case JsonArray a when a.All(IsTokenId):
                return [FromTokens(a, tokenizer, "prompt")];
            case JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)):
                CheckBatch(a);
                return [.. a.Select(x => FromText(x!.GetValue<string>(), tokenizer))];
            case JsonArray a when a.All(x => x is JsonArray):
                CheckBatch(a);
                return [.. a.Select((x, i) => FromTokens((JsonArray)x!, tokenizer, $"prompt[{i}]"))];
            default:
                throw OpenAiException.Invalid("'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.", "prompt");
        }
    }

    private static bool IsTokenId(JsonNode? node) => node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number;

    private static void CheckBatch(JsonArray batch)
    {
        if (batch.Count > MaxPrompts)
            throw OpenAiException.Invalid($"'prompt' takes at most {MaxPrompts} prompts in one request; got {batch.Count}.", "prompt");
    }

    /// <summary>
    /// As llama.cpp's server does (BOS and EOS as the vocabulary asks, special-token texts parsed), except that a prompt
    /// already beginning with the BOS text gets one BOS, not two, as chat prompts do (<see cref="ChatPrompt.Tokenize"/>).
    /// </summary>
    private static CompletionPrompt FromText(string text, ITokenizer tokenizer)
    {
        int[] ids = tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
        if (tokenizer.Vocabulary.AddBos && tokenizer.Bos is int bos && ids.Length >= 2 && ids[0] == bos && ids[1] == bos)
            ids = ids[1..];
        return new(text, ids);
    }

    private static CompletionPrompt FromTokens(JsonArray ids, ITokenizer tokenizer, string param)
    {
        if (ids.Count == 0)
            throw OpenAiException.Invalid($"'{param}' must not be an empty array of token ids.", param);
        var tokens = new int[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] is not JsonValue v || !v.TryGetValue(out int id) || !tokenizer.Vocabulary.IsValid(id))
                throw OpenAiException.Invalid($"{param}[{i}] is not a token id of this model (an integer in 0..{tokenizer.VocabSize - 1}).", $"{param}[{i}]");
            tokens[i] = id;
        }
        return new(tokenizer.Decode(tokens), tokens);
    }
}
