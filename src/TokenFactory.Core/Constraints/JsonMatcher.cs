namespace TokenFactory.Constraints;

/// <summary>
/// Where generation stands in the JSON a schema allows: the set of parse stacks consistent with the bytes so far
/// (several only where <c>anyOf</c> or a number's end leaves it open). Advancing by a token's bytes keeps the stacks
/// that survive; none surviving means the token is not allowed. Immutable: trying a token never changes a matcher.
/// </summary>
public sealed class JsonMatcher
{
    /// <summary>
    /// Parse stacks kept at most. Alternatives beyond it would be dropped, so what builds a schema refuses an <c>anyOf</c> wider
    /// than this (a forced call to one of many tools is one: every function is alive until its name is told apart); only
    /// nested choices multiplying past it could still lose some.
    /// </summary>
    public const int MaxAlternatives = 1024;

    private readonly JsonFrame[] _stacks;

    private JsonMatcher(JsonFrame[] stacks) => _stacks = stacks;

    public static JsonMatcher Start(SchemaNode schema)
    {
        if (schema is not GrammarNode grammar)
            return new([new ValueFrame(schema, null)]);
        var frames = new List<JsonFrame>();
        GrammarFrames.Pending(grammar, null, frames);
        return new([.. frames]);
    }

    /// <summary>Whether the document may end here: a complete value (then end-of-generation is allowed).</summary>
    public bool CanEnd => _stacks.Any(s => s.CanEnd);

    /// <summary>Whether nothing may follow: the value is closed (the engine then stops without waiting for an end token).</summary>
    public bool MustEnd => _stacks.All(s => s is DoneFrame);

    /// <summary>The matcher after <paramref name="bytes"/>, or null when they are not allowed here.</summary>
    public JsonMatcher? Advance(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return this;
        // Two scratch lists per thread, swapped byte by byte: a mask tries thousands of tokens, and only the
        // surviving stacks of each are kept.
        var current = t_current ??= new List<JsonFrame>(8);
        var next = t_next ??= new List<JsonFrame>(8);
        current.Clear();
        current.AddRange(_stacks);
        foreach (byte b in bytes)
        {
            next.Clear();
            foreach (var frame in current)
            {
                frame.Step(b, next);
                if (next.Count >= MaxAlternatives)
                    break;
            }
            if (next.Count == 0)
                return null;
            Deduplicate(next);
            (current, next) = (next, current);
        }
        (t_current, t_next) = (current, next);
        return new JsonMatcher([.. current]);
    }

    [ThreadStatic] private static List<JsonFrame>? t_current, t_next;

    /// <summary>Overlapping anyOf choices resume the same parent frame: keep one of each, or the count doubles per value.</summary>
    private static void Deduplicate(List<JsonFrame> frames)
    {
        for (int i = frames.Count - 1; i > 0; i--)
        {
            for (int j = 0; j < i; j++)
            {
                if (ReferenceEquals(frames[i], frames[j]))
                {
                    frames.RemoveAt(i);
                    break;
                }
            }
        }
    }

    internal JsonMatcher? Step(byte b) => Advance(new ReadOnlySpan<byte>(in b));

    /// <summary>Inside a string's plain content (no escape or character half-way): plain bytes leave the state as it is.</summary>
    internal bool InPlainString => _stacks.All(s => s is StringFrame { IsPlain: true });
}
