namespace TokenFactory.Constraints;

/// <summary>
/// The parse frames of plain grammars, in the same persistent stacks as JSON's (<see cref="JsonFrame"/>). A set of stacks
/// is kept closed under matching nothing: wherever a part may match nothing, the frame after it is in the set too, so
/// whether the document may end, and what the next byte may be, are read off the set directly.
/// </summary>
internal static class GrammarFrames
{
    /// <summary>Frames for "<paramref name="node"/> comes next, then <paramref name="parent"/>" (and, if it may match nothing, what follows it).</summary>
    public static void Pending(GrammarNode node, JsonFrame? parent, List<JsonFrame> into)
    {
        into.Add(new GrammarPendingFrame(node, parent));
        if (node.Nullable)
            Complete(parent, into);
    }

    /// <summary>The frames after <paramref name="b"/> starts a non-empty match of <paramref name="node"/>.</summary>
    public static void Consume(GrammarNode node, byte b, JsonFrame? parent, List<JsonFrame> into)
    {
        switch (node)
        {
            case TextNode text when text.Bytes.Length > 0:
                new LiteralFrame([text.Bytes], 0, parent).Step(b, into);
                break;
            case CharClassNode c:
                CharFrame.Begin(c, b, parent, into);
                break;
            case ChoiceNode choice:
                foreach (var alternative in choice.Alternatives)
                    Consume(alternative, b, parent, into);
                break;
            case SequenceNode sequence:
                for (int i = 0; i < sequence.Items.Count; i++)
                {
                    Consume(sequence.Items[i], b, new SequenceFrame(sequence, i + 1, parent), into);
                    if (!sequence.Items[i].Nullable)
                        break;
                }
                break;
            case RepeatNode repeat when repeat.Max >= 1:
                Consume(repeat.Item, b, new RepeatFrame(repeat, 1, parent), into);
                break;
            case RuleNode rule:
                Consume(rule.Resolved, b, parent, into);
                break;
        }
    }

    /// <summary>A grammar part is complete: the parent resumes, or at the top the document may end.</summary>
    public static void Complete(JsonFrame? parent, List<JsonFrame> into)
    {
        if (parent is null)
            into.Add(DoneFrame.Instance);
        else
            parent.Resumed(-1, into);
    }
}

/// <summary>A grammar part is next: the byte starts it.</summary>
internal sealed class GrammarPendingFrame(GrammarNode node, JsonFrame? parent) : JsonFrame(parent)
{
    public override void Step(byte b, List<JsonFrame> into) => GrammarFrames.Consume(node, b, Parent, into);
}

/// <summary>Items [0, <paramref name="next"/>) of a sequence are matched.</summary>
internal sealed class SequenceFrame(SequenceNode node, int next, JsonFrame? parent) : JsonFrame(parent)
{
    public override void Step(byte b, List<JsonFrame> into) => throw new InvalidOperationException("a sequence's items read the bytes");

    public override void Resumed(int choice, List<JsonFrame> into)
    {
        if (next == node.Items.Count)
            GrammarFrames.Complete(Parent, into);
        else
            GrammarFrames.Pending(node.Items[next], new SequenceFrame(node, next + 1, Parent), into);
    }
}

/// <summary><paramref name="count"/> items of a repetition are matched (this frame was made as the last one began).</summary>
internal sealed class RepeatFrame(RepeatNode node, int count, JsonFrame? parent) : JsonFrame(parent)
{
    public override void Step(byte b, List<JsonFrame> into) => throw new InvalidOperationException("a repetition's items read the bytes");

    public override void Resumed(int choice, List<JsonFrame> into)
    {
        if (count < node.Max)
            into.Add(new GrammarPendingFrame(node.Item, new RepeatFrame(node, count + 1, Parent)));
        if (count >= node.Min)
            GrammarFrames.Complete(Parent, into);
    }
}

/// <summary>One character of a class, read as UTF-8: the code point so far and the continuation bytes still to come.</summary>
internal sealed class CharFrame(CharClassNode node, int codePoint, int left, int length, JsonFrame? parent) : JsonFrame(parent)
{
    public static void Begin(CharClassNode node, byte b, JsonFrame? parent, List<JsonFrame> into)
    {
        (int value, int left) = b switch
        {
            < 0x80 => (b, 0),
            >= 0xC2 and <= 0xDF => (b & 0x1F, 1),
            >= 0xE0 and <= 0xEF => (b & 0x0F, 2),
            >= 0xF0 and <= 0xF4 => (b & 0x07, 3),
            _ => (-1, 0),
        };
        if (value < 0)
            return; // not the start of a UTF-8 character
        var frame = new CharFrame(node, value, left, left + 1, parent);
        if (left == 0)
            frame.Finish(into);
        else if (frame.Possible)
            into.Add(frame);
    }

    /// <summary>Whether a character the bytes so far can still become is in the class (else the walk would dead-end later).</summary>
    private bool Possible
    {
        get
        {
            // Only well-formed characters count: not overlong (below the least value of this length), not past U+10FFFF.
            int low = Math.Max(codePoint << (6 * left), Least(length)), high = Math.Min(((codePoint + 1) << (6 * left)) - 1, 0x10FFFF);
            return low <= high && !(low >= 0xD800 && high <= 0xDFFF) && node.MayMatch(low, high); // surrogates are not characters
        }
    }

    private static int Least(int length) => length switch { 1 => 0, 2 => 0x80, 3 => 0x800, _ => 0x10000 };

    public override void Step(byte b, List<JsonFrame> into)
    {
        if ((b & 0xC0) != 0x80)
            return;
        var next = new CharFrame(node, (codePoint << 6) | (b & 0x3F), left - 1, length, Parent);
        if (left == 1)
            next.Finish(into);
        else if (next.Possible)
            into.Add(next);
    }

    private void Finish(List<JsonFrame> into)
    {
        // Overlong forms and surrogates are not characters: the output stays valid UTF-8.
        if (codePoint < Least(length) || codePoint is >= 0xD800 and <= 0xDFFF || codePoint > 0x10FFFF || !node.Matches(codePoint))
            return;
        GrammarFrames.Complete(Parent, into);
    }
}
