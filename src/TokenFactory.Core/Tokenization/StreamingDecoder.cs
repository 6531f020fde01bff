using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace TokenFactory.Tokenization;

/// <summary>
/// Turns generated token ids into text as they arrive. A character whose UTF-8 bytes are spread over several tokens
/// (byte-fallback <c>&lt;0xNN&gt;</c> tokens, byte-level BPE pieces) is held back until complete; bytes that can no longer
/// form a character are emitted as U+FFFD. Not thread-safe: one decoder per sequence.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _unparseSpecial;
    private readonly List<byte> _pending = new(8);
    private bool _stripLeadingSpace;

    /// <param name="tokenizer">The tokenizer whose pieces are decoded.</param>
    /// <param name="unparseSpecial">Render control tokens as their text.</param>
    /// <param name="stripLeadingSpace">Drop the leading space of the first token, as <see cref="Tokenizer.Decode(ReadOnlySpan{int})"/>
    /// does for add_space_prefix vocabularies; leave false when continuing after a prompt.</param>
    public StreamingDecoder(Tokenizer tokenizer, bool unparseSpecial = false, bool stripLeadingSpace = false)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _unparseSpecial = unparseSpecial;
        _stripLeadingSpace = stripLeadingSpace;
    }

    /// <summary>Bytes received that do not yet form a complete character.</summary>
    public int PendingByteCount => _pending.Count;

    /// <summary>Adds one token; returns the text that is now complete (often empty while a character is split).</summary>
    public string Append(int tokenId)
    {
        var piece = _tokenizer.PieceSpan(tokenId, _unparseSpecial);
        if (_stripLeadingSpace && piece.Length > 0)
        {
            if (piece[0] == (byte)' ')
                piece = piece[1..];
            _stripLeadingSpace = false;
        }
        if (_pending.Count == 0 && Utf8.IsValid(piece))
            return Encoding.UTF8.GetString(piece); // the common case: a whole-character piece
        _pending.AddRange(piece);
        return Drain(isFinal: false);
    }

    /// <summary>Ends the stream: whatever is still pending becomes U+FFFD.</summary>
    public string Flush() => Drain(isFinal: true);

    public void Reset()
    {
        _pending.Clear();
    }

    private string Drain(bool isFinal)
    {
        if (_pending.Count == 0)
            return "";
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending);
        char[] chars = ArrayPool<char>.Shared.Rent(bytes.Length + 1);
        try
        {
            // Invalid sequences become U+FFFD; an incomplete sequence at the end is left unread unless final.
            Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: true, isFinalBlock: isFinal);
            _pending.RemoveRange(0, read);
            return new string(chars, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
