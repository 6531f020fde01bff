namespace TokenFactory.Engine;

/// <summary>
/// Streams generated text while watching for stop strings that may span several tokens. Text that
/// could still be the start of a stop string is held back; when a stop string completes, only the
/// text before it is released and the stop string itself is never emitted.
/// </summary>
/// <remarks>
/// Works on spans over reused buffers (the released text is valid until the next call), so the engine's decode step
/// allocates nothing for it; without stop strings the text passes through untouched.
/// </remarks>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private char[] _pending = [];
    private int _pendingLength;
    private char[] _released = [];

    public StopStringMatcher(IEnumerable<string>? stops) =>
        _stops = stops?.Where(s => s.Length > 0).Distinct().ToArray() ?? [];

    public bool Stopped { get; private set; }

    /// <summary>The stop string that ended generation, if any.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds newly decoded text; returns the text that is now safe to emit (valid until the next call).</summary>
    public ReadOnlySpan<char> Push(ReadOnlySpan<char> text)
    {
        if (Stopped)
            return [];
        if (_stops.Length == 0)
            return text;
        Grow(ref _pending, _pendingLength + text.Length);
        text.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += text.Length;
        ReadOnlySpan<char> s = _pending.AsSpan(0, _pendingLength);

        int firstStop = -1;
        foreach (var stop in _stops)
        {
            int at = s.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (firstStop < 0 || at < firstStop))
            {
                firstStop = at;
                MatchedStop = stop;
            }
        }
        if (firstStop >= 0)
        {
            Stopped = true;
            _pendingLength = 0;
            return Release(s[..firstStop]);
        }

        // Hold back the longest suffix that is a proper prefix of some stop string.
        int hold = 0;
        foreach (var stop in _stops)
        {
            for (int len = Math.Min(stop.Length - 1, s.Length); len > hold; len--)
            {
                if (s[^len..].SequenceEqual(stop.AsSpan(0, len)))
                {
                    hold = len;
                    break;
                }
            }
        }
        var released = Release(s[..^hold]);
        s[^hold..].CopyTo(_pending);
        _pendingLength = hold;
        return released;
    }

    /// <summary>Releases held-back text at the end of generation (no stop string completed); valid until the next call.</summary>
    public ReadOnlySpan<char> Flush()
    {
        if (Stopped)
            return [];
        var rest = Release(_pending.AsSpan(0, _pendingLength));
        _pendingLength = 0;
        return rest;
    }

    private ReadOnlySpan<char> Release(ReadOnlySpan<char> text)
    {
        Grow(ref _released, text.Length);
        text.CopyTo(_released);
        return _released.AsSpan(0, text.Length);
    }

    private static void Grow(ref char[] buffer, int length)
    {
        if (buffer.Length < length)
            Array.Resize(ref buffer, Math.Max(length, Math.Max(64, 2 * buffer.Length)));
    }
}
