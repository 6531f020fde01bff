using System.Runtime.InteropServices;
using System.Text.Unicode;

namespace TokenFactory.Tokenization;

/// <summary>
/// Turns generated token ids into text as they arrive. A character whose UTF-8 bytes are spread over several tokens
/// (byte-fallback <c>&lt;0xNN&gt;</c> tokens, byte-level BPE pieces) is held back until complete; bytes that can no longer
/// form a character are emitted as U+FFFD. Not thread-safe: one decoder per sequence.
/// </summary>
/// <remarks>
/// The text comes back as a span over the decoder's own buffer, valid until the next call: the engine's decode step
/// runs this for every sequence every step and must not allocate (a string per token was the step's only garbage).
/// </remarks>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _unparseSpecial;
    private readonly List<byte> _pending = new(8);
    private char[] _chars = new char[64];
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

    /// <summary>Adds one token; returns the text that is now complete (often empty while a character is split), valid until the next call.</summary>
    public ReadOnlySpan<char> Append(int tokenId)
    {
        var piece = _tokenizer.PieceSpan(tokenId, _unparseSpecial);
        if (_stripLeadingSpace && piece.Length > 0)
        {
            if (piece[0] == (byte)' ')
                piece = piece[1..];
            _stripLeadingSpace = false;
        }
        if (_pending.Count == 0 && Utf8.IsValid(piece))
            return Convert(piece, isFinal: true, out _); // the common case: a whole-character piece
        _pending.AddRange(piece);
        return Drain(isFinal: false);
    }

    /// <summary>Ends the stream: whatever is still pending becomes U+FFFD. Valid until the next call.</summary>
    public ReadOnlySpan<char> Flush() => Drain(isFinal: true);

    public void Reset()
    {
        _pending.Clear();
    }

    private ReadOnlySpan<char> Drain(bool isFinal)
    {
        if (_pending.Count == 0)
            return [];
        var text = Convert(CollectionsMarshal.AsSpan(_pending), isFinal, out int read);
        _pending.RemoveRange(0, read);
        return text;
    }

    /// <summary>
    /// UTF-8 to UTF-16 into the reused buffer: invalid sequences become U+FFFD; an incomplete sequence at the end is left
    /// unread unless final.
    /// </summary>
    private ReadOnlySpan<char> Convert(ReadOnlySpan<byte> bytes, bool isFinal, out int read)
    {
        if (_chars.Length < bytes.Length + 1)
            _chars = new char[Math.Max(bytes.Length + 1, 2 * _chars.Length)];
        Utf8.ToUtf16(bytes, _chars, out read, out int written, replaceInvalidSequences: true, isFinalBlock: isFinal);
        return _chars.AsSpan(0, written);
    }
}
