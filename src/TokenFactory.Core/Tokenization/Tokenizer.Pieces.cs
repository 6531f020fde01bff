using System.Globalization;
using System.Text;

namespace TokenFactory.Tokenization;

public sealed partial class Tokenizer
{
    // Each token's bytes as rendered with special = true; control/unknown tokens are dropped at lookup when special = false.
    private readonly byte[][] _pieces;

    public byte[] TokenBytes(int id, bool special = true)
    {
        if (!Vocabulary.IsValid(id))
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {VocabSize}");
        return PieceSpan(id, special).ToArray();
    }

    public string TokenPiece(int id, bool special = true) => Encoding.UTF8.GetString(TokenBytes(id, special));

    internal ReadOnlySpan<byte> PieceSpan(int id, bool special)
    {
        if (!Vocabulary.IsValid(id))
            return [];
        if (!special && (Vocabulary.Attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0)
            return [];
        return _pieces[id];
    }

    /// <summary>
    /// llama.cpp's token-to-piece rules: control, unknown and user-defined tokens are their text; normal tokens are
    /// unescaped (U+2581 to space for SentencePiece and Gemma 4's BPE, byte-level alphabet to bytes for other BPE); byte tokens
    /// (<c>&lt;0xXX&gt;</c>, SentencePiece and Gemma 4) are their byte; unused and undefined tokens render as nothing.
    /// </summary>
    private static byte[][] BuildPieces(Vocabulary vocab)
    {
        var pieces = new byte[vocab.Count][];
        for (int id = 0; id < pieces.Length; id++)
        {
            string text = vocab.Tokens[id];
            var attrs = vocab.Attributes[id];
            if ((attrs & (TokenAttributes.Control | TokenAttributes.Unknown | TokenAttributes.UserDefined)) != 0)
                pieces[id] = Encoding.UTF8.GetBytes(text);
            else if ((attrs & TokenAttributes.Normal) != 0)
                pieces[id] = vocab.Kind == TokenizerKind.BytePairEncoding && !vocab.EscapeWhitespace ? ByteLevelBytes(text) : Encoding.UTF8.GetBytes(text.Replace(SpmEncoder.SpaceMarker, ' '));
            else if ((attrs & TokenAttributes.Byte) != 0 && (vocab.Kind != TokenizerKind.BytePairEncoding || vocab.EscapeWhitespace) && TryParseByteToken(text, out byte b))
                pieces[id] = [b];
            else
                pieces[id] = [];
        }
        return pieces;
    }

    /// <summary>Decodes a byte-level BPE token text; characters outside the alphabet are kept as their UTF-8.</summary>
    private static byte[] ByteLevelBytes(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length; i++)
        {
            int b = ByteLevel.ToByte(text[i]);
            if (b >= 0)
            {
                bytes.Add((byte)b);
                continue;
            }
            int w = char.IsHighSurrogate(text[i]) && i + 1 < text.Length ? 2 : 1;
            int n = Encoding.UTF8.GetBytes(text.AsSpan(i, w), utf8);
            for (int k = 0; k < n; k++)
                bytes.Add(utf8[k]);
            i += w - 1;
        }
        return [.. bytes];
    }

    private static bool TryParseByteToken(string text, out byte value)
    {
        value = 0;
        return text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
            && byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
    }
}
