using System.Text.Json.Nodes;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Api;

/// <summary>The <c>input</c> of /v1/embeddings, tokenized: one token array per input, checked against the model.</summary>
internal static class EmbeddingInputs
{
    /// <summary>OpenAI's limit on inputs per request.</summary>
    public const int MaxInputs = 2048;

    /// <summary>
    /// OpenAI's four shapes: a string, an array of strings, an array of token ids (one input), an array of token-id arrays.
    /// Text is tokenized as llama.cpp's embedding path does (the vocabulary's own added tokens: [CLS] … [SEP] for WordPiece,
    /// BOS/EOS as the file says; special-token text is plain text); token ids are embedded as given. Empty inputs, inputs
    /// longer than the model's context and unknown token ids are a 400 naming the input.
    /// </summary>
    public static List<int[]> Parse(JsonNode? input, ITokenizer tokenizer, int contextLength)
    {
        var inputs = input switch
        {
            null => throw OpenAiException.Invalid("'input' is required.", "input"),
            JsonValue v when v.TryGetValue(out string? text) => [FromText(text, tokenizer, "input")],
            JsonArray { Count: 0 } => throw OpenAiException.Invalid("'input' must not be an empty array.", "input"),
            JsonArray a when a.All(IsTokenId) => [FromTokens(a, tokenizer, "input")],
            JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) =>
                Batch(a).Select((x, i) => FromText(x!.GetValue<string>(), tokenizer, $"input[{i}]")).ToList(),
            JsonArray a when a.All(x => x is JsonArray) => Batch(a).Select((x, i) => FromTokens((JsonArray)x!, tokenizer, $"input[{i}]")).ToList(),
            _ => throw OpenAiException.Invalid("'input' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.", "input"),
        };
        bool batch = input is JsonArray array && !array.All(IsTokenId);
        for (int i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Length > contextLength)
            {
                string name = batch ? $"input[{i}]" : "input";
                throw OpenAiException.Invalid($"'{name}' is {inputs[i].Length} tokens; this model embeds at most {contextLength}.", name, "context_length_exceeded");
            }
        }
        return inputs;
    }

    private static JsonArray Batch(JsonArray a) => a.Count <= MaxInputs ? a
        : throw OpenAiException.Invalid($"'input' takes at most {MaxInputs} inputs in one request; got {a.Count}.", "input");

    private static bool IsTokenId(JsonNode? node) => node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number;

    private static int[] FromText(string text, ITokenizer tokenizer, string param) => text.Length > 0
        ? tokenizer.Encode(text, addSpecial: true, parseSpecial: false)
        : throw OpenAiException.Invalid($"'{param}' must not be an empty string.", param);

    private static int[] FromTokens(JsonArray ids, ITokenizer tokenizer, string param)
    {
        if (ids.Count == 0)
            throw OpenAiException.Invalid($"'{param}' must not be an empty array of token ids.", param);
        var tokens = new int[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] is not JsonValue v || !v.TryGetValue(out int id) || id < 0 || id >= tokenizer.VocabSize)
                throw OpenAiException.Invalid($"'{param}[{i}]' must be a token id between 0 and {tokenizer.VocabSize - 1}.", param);
            tokens[i] = id;
        }
        return tokens;
    }
}
