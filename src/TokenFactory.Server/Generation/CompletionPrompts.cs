using System.Text.Json.Nodes;
using TokenFactory.Server.Api;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Generation;

/// <summary>A legacy completions prompt: its text (for echo) and its tokens.</summary>
internal sealed record CompletionPrompt(string Text, int[] Tokens);

internal static class CompletionPrompts
{
    public const int MaxPrompts = 128;

    /// <summary>
    /// Accepts what OpenAI accepts: a string, an array of strings, an array of token ids, or an array of
    /// such arrays. Text is tokenized as llama.cpp's /completion does: BOS per the vocabulary, control-token
    /// texts parsed.
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
                throw OpenAiException.Invalid("'prompt' must not be empty.", "prompt");
            case JsonArray a when a.Count > MaxPrompts:
                throw OpenAiException.Invalid($"'prompt' takes at most {MaxPrompts} prompts.", "prompt");
            case JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)):
                return [.. a.Select(x => FromText(x!.GetValue<string>(), tokenizer))];
            case JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out int _)):
                return [FromTokens(a, tokenizer, "prompt")];
            case JsonArray a when a.All(x => x is JsonArray):
                return [.. a.Select((x, i) => FromTokens((JsonArray)x!, tokenizer, $"prompt[{i}]"))];
            default:
                throw OpenAiException.Invalid("'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.", "prompt");
        }
    }

    private static CompletionPrompt FromText(string text, ITokenizer tokenizer) =>
        new(text, tokenizer.Encode(text, addSpecial: true, parseSpecial: true));

    private static CompletionPrompt FromTokens(JsonArray ids, ITokenizer tokenizer, string param)
    {
        var tokens = new int[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] is not JsonValue v || !v.TryGetValue(out int id) || !tokenizer.Vocabulary.IsValid(id))
                throw OpenAiException.Invalid($"{param}[{i}] is not a token id of this model (0..{tokenizer.VocabSize - 1}).", param);
            tokens[i] = id;
        }
        return new(tokenizer.Decode(tokens), tokens);
    }
}
