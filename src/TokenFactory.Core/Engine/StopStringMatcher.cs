namespace TokenFactory.Engine;

/// <summary>
/// Streams generated text while watching for stop strings that may span several tokens. Text that
/// could still be the start of a stop string is held back; when a stop string completes, only the
/// text before it is released and the stop string itself is never emitted.
/// </summary>
public sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly System.Text.StringBuilder _pending = new();

    public StopStringMatcher(IEnumerable<string>? stops) =>
        _stops = stops?.Where(s => s.Length > 0).Distinct().ToArray() ?? [];

    public bool Stopped { get; private set; }

    /// <summary>The stop string that ended generation, if any.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds newly decoded text; returns the text that is now safe to emit.</summary>
    public string Push(string text)
    {
        if (Stopped)
            return "";
        if (_stops.Length == 0)
            return text;
        _pending.Append(text);
        string s = _pending.ToString();

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
            _pending.Clear();
            return s[..firstStop];
        }

        // Hold back the longest suffix that is a proper prefix of some stop string.
        int hold = 0;
        foreach (var stop in _stops)
        {
            for (int len = Math.Min(stop.Length - 1, s.Length); len > hold; len--)
            {
                if (string.CompareOrdinal(s, s.Length - len, stop, 0, len) == 0)
                {
                    hold = len;
                    break;
                }
            }
        }
        _pending.Clear();
        _pending.Append(s, s.Length - hold, hold);
        return s[..(s.Length - hold)];
    }

    /// <summary>Releases held-back text at the end of generation (no stop string completed).</summary>
    public string Flush()
    {
        string s = _pending.ToString();
        _pending.Clear();
        return Stopped ? "" : s;
    }
}
