namespace TokenFactory.Constraints;

/// <summary>
/// A node of a plain grammar (GBNF, <see cref="GbnfGrammar"/>): matched byte for byte with no whitespace between parts,
/// unlike the JSON nodes. <see cref="Nullable"/>: whether it may match nothing (computed once the grammar is read).
/// </summary>
public abstract class GrammarNode : SchemaNode
{
    public bool Nullable { get; internal set; }
}

/// <summary>Fixed text (a quoted literal), as UTF-8.</summary>
public sealed class TextNode(byte[] bytes) : GrammarNode
{
    public byte[] Bytes { get; } = bytes;
}

/// <summary>One character (code point) in, or with <see cref="Negated"/> not in, the ranges; <c>.</c> is any character.</summary>
public sealed class CharClassNode(IReadOnlyList<(int Low, int High)> ranges, bool negated) : GrammarNode
{
    public IReadOnlyList<(int Low, int High)> Ranges { get; } = ranges;
    public bool Negated { get; } = negated;

    public bool Matches(int codePoint)
    {
        bool inside = false;
        foreach (var (low, high) in Ranges)
        {
            if (codePoint >= low && codePoint <= high)
            {
                inside = true;
                break;
            }
        }
        return inside != Negated;
    }

    /// <summary>Whether some code point in [<paramref name="low"/>, <paramref name="high"/>] matches: a UTF-8 character half read is kept only then.</summary>
    public bool MayMatch(int low, int high)
    {
        if (!Negated)
            return Ranges.Any(r => r.Low <= high && r.High >= low);
        // Negated: some code point of the span must lie outside every range.
        int at = low;
        while (at <= high)
        {
            int covered = -1;
            foreach (var (l, h) in Ranges)
            {
                if (l <= at && h >= at)
                    covered = Math.Max(covered, h);
            }
            if (covered < 0)
                return true;
            at = covered + 1;
        }
        return false;
    }
}

public sealed class SequenceNode(IReadOnlyList<GrammarNode> items) : GrammarNode
{
    public IReadOnlyList<GrammarNode> Items { get; } = items;
}

public sealed class ChoiceNode(IReadOnlyList<GrammarNode> alternatives) : GrammarNode
{
    public IReadOnlyList<GrammarNode> Alternatives { get; } = alternatives;
}

/// <summary><see cref="Item"/> between <see cref="Min"/> and <see cref="Max"/> times (the item never matches nothing: the grammar is refused otherwise).</summary>
public sealed class RepeatNode(GrammarNode item, int min, int max) : GrammarNode
{
    public GrammarNode Item { get; } = item;
    public int Min { get; } = min;
    public int Max { get; } = max;
}

/// <summary>A reference to a rule, resolved once every rule is read (rules may refer to themselves, not leftmost).</summary>
public sealed class RuleNode(string name) : GrammarNode
{
    public string Name { get; } = name;
    public GrammarNode? Target { get; set; }
    public GrammarNode Resolved => Target ?? throw new InvalidOperationException($"unresolved rule '{Name}'");
}
