namespace TokenFactory.Tokenization;

/// <summary>Text to token ids and back, with llama.cpp's semantics.</summary>
public interface ITokenizer
{
    Vocabulary Vocabulary { get; }

    int VocabSize { get; }

    int? Bos { get; }

    int? Eos { get; }

    /// <summary>
    /// Tokenizes <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the vocabulary's add_bos/add_eos say;
    /// <paramref name="parseSpecial"/> turns control-token texts (e.g. <c>&lt;|im_end|&gt;</c>) into those tokens, otherwise
    /// they are tokenized as plain text. User-defined tokens are always recognized.
    /// </summary>
    int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false);

    /// <summary>
    /// As <see cref="Encode(string, bool, bool)"/>, except that within <paramref name="textOnly"/> (character ranges, such as a
    /// user's message inside a rendered chat prompt) no control token is recognized, as without <paramref name="parseSpecial"/>:
    /// the text there is tokenized as text, so a message cannot forge the template's markup.
    /// </summary>
    int[] Encode(string text, bool addSpecial, bool parseSpecial, IReadOnlyList<Range> textOnly);

    /// <summary>Whether <paramref name="text"/> contains the text of a control token.</summary>
    bool MentionsSpecialToken(string text);

    /// <summary>Concatenated pieces of <paramref name="ids"/> as text; control tokens render as nothing.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// llama.cpp's detokenize: <paramref name="removeSpecial"/> drops a leading BOS / trailing EOS that add_bos/add_eos would
    /// have added; <paramref name="unparseSpecial"/> renders control tokens as their text.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial);

    /// <summary>The bytes a token stands for (what llama-tokenize prints); control tokens are empty unless <paramref name="special"/>.</summary>
    byte[] TokenBytes(int id, bool special = true);

    /// <summary><see cref="TokenBytes"/> as text (invalid UTF-8, e.g. a lone byte token, becomes U+FFFD).</summary>
    string TokenPiece(int id, bool special = true);

    bool IsEndOfGeneration(int id);
}
