using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>
/// One sequence's generated tokens turned into the text a client may see: complete UTF-8 characters
/// (<see cref="StreamingDecoder"/>) with any pending stop string held back (<see cref="StopStringMatcher"/>).
/// Every span returned is valid until the next call.
/// </summary>
public sealed class GeneratedText(Tokenizer tokenizer, IReadOnlyList<string> stops)
{
    private readonly StreamingDecoder _decoder = new(tokenizer);
    private readonly StopStringMatcher _stops = new(stops);
    private char[] _finish = [];

    /// <summary>A stop string completed: nothing more is released.</summary>
    public bool Stopped => _stops.Stopped;

    public string? MatchedStop => _stops.MatchedStop;

    /// <summary>The text token <paramref name="token"/> releases (often empty while a character or a possible stop is pending).</summary>
    public ReadOnlySpan<char> Append(int token) => _stops.Push(_decoder.Append(token));

    /// <summary>The end of the text: a character left incomplete (as U+FFFD) and whatever was held back for a stop that never came.</summary>
    public ReadOnlySpan<char> Finish()
    {
        var flushed = _stops.Push(_decoder.Flush());
        int length = flushed.Length;
        if (_finish.Length < length)
            _finish = new char[length];
        flushed.CopyTo(_finish);
        var held = _stops.Flush();
        if (held.IsEmpty)
            return _finish.AsSpan(0, length);
        Array.Resize(ref _finish, length + held.Length);
        held.CopyTo(_finish.AsSpan(length));
        return _finish.AsSpan(0, length + held.Length);
    }
}
