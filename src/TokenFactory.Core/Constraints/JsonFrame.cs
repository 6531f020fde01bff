namespace TokenFactory.Constraints;

/// <summary>
/// One level of the JSON being generated, in a persistent stack: a step makes new frames and shares the rest, so trying
/// a token from a state never disturbs it (the mask tries thousands). <see cref="Parent"/> is what resumes once this
/// value is complete.
/// </summary>
internal abstract class JsonFrame(JsonFrame? parent)
{
    /// <summary>
    /// Whitespace between tokens, bounded: one line break at most, then up to 12 spaces or tabs (enough to pretty-print
    /// a few levels deep). A small model would otherwise fill its whole budget with blank lines.
    /// </summary>
    public const int MaxWhitespace = 12;

    /// <summary>Whether whitespace byte <paramref name="b"/> may follow <paramref name="run"/> whitespace bytes.</summary>
    public static bool MayContinueWhitespace(byte b, int run) => b switch
    {
        (byte)' ' or (byte)'\t' => run < MaxWhitespace,
        (byte)'\n' => run == 0,
        _ => false,
    };

    /// <summary>Digits allowed in one number part: keeps a weightless model from writing digits until its length runs out.</summary>
    public const int MaxDigits = 16;

    public JsonFrame? Parent { get; } = parent;

    /// <summary>The stacks this one may become after <paramref name="b"/> (none: the byte is not allowed here).</summary>
    public abstract void Step(byte b, List<JsonFrame> into);

    /// <summary>Whether the document may end here (the root value is complete).</summary>
    public virtual bool CanEnd => false;

    /// <summary>This value is complete: the parent resumes (null parent: the document is done).</summary>
    protected static void Complete(JsonFrame? parent, List<JsonFrame> into, int choice = -1)
    {
        if (parent is null)
            into.Add(DoneFrame.Instance);
        else
            parent.Resumed(choice, into);
    }

    /// <summary>A child value completed (for a key: which <paramref name="choice"/> of its candidates).</summary>
    public virtual void Resumed(int choice, List<JsonFrame> into) => throw new InvalidOperationException($"{GetType().Name} has no children");

    public static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\t';
}

/// <summary>The whole document is complete: nothing more may follow.</summary>
internal sealed class DoneFrame() : JsonFrame(null)
{
    public static readonly DoneFrame Instance = new();
    public override void Step(byte b, List<JsonFrame> into) { }
    public override bool CanEnd => true;
}

/// <summary>A value of <paramref name="node"/> comes next, perhaps after some whitespace.</summary>
internal sealed class ValueFrame(SchemaNode node, JsonFrame? parent, int whitespace = 0) : JsonFrame(parent)
{
    public override void Step(byte b, List<JsonFrame> into)
    {
        if (IsWhitespace(b))
        {
            if (MayContinueWhitespace(b, whitespace))
                into.Add(new ValueFrame(node, Parent, whitespace + 1));
            return;
        }
        Start(node, b, Parent, into);
    }

    /// <summary>Begins a value of <paramref name="node"/> with its first byte.</summary>
    public static void Start(SchemaNode node, byte b, JsonFrame? parent, List<JsonFrame> into)
    {
        switch (node)
        {
            case RefNode r:
                Start(r.Resolved, b, parent, into);
                break;
            case GrammarNode g:
                GrammarFrames.Consume(g, b, parent, into);
                break;
            case WrappedNode w:
                new WrappedFrame(w, 1, parent).Begin(b, into);
                break;
            case AnyOfNode any:
                foreach (var choice in any.Choices)
                    Start(choice, b, parent, into);
                break;
            case LiteralNode literal:
                new LiteralFrame(literal.Texts, 0, parent).Step(b, into);
                break;
            case AnyNode:
                foreach (var kind in AnyKinds)
                    Start(kind, b, parent, into);
                break;
            case ObjectNode o when b == '{':
                into.Add(new ObjectFrame(o, parent, ObjectFrame.Phase.AfterOpen, 0, 0, 0));
                break;
            case ArrayNode a when b == '[':
                into.Add(new ArrayFrame(a, parent, ArrayFrame.Phase.AfterOpen, 0, 0));
                break;
            case StringNode when b == '"':
                into.Add(new StringFrame(parent));
                break;
            case NumberNode n:
                new NumberFrame(n.Integer, NumberFrame.Phase.Start, 0, parent).Step(b, into);
                break;
            case BooleanNode:
                new LiteralFrame(Booleans, 0, parent).Step(b, into);
                break;
            case NullNode:
                new LiteralFrame(Null, 0, parent).Step(b, into);
                break;
        }
    }

    private static readonly SchemaNode[] AnyKinds =
        [new ObjectNode([], SchemaNode.Any), new ArrayNode(SchemaNode.Any, 0, int.MaxValue), new StringNode(), new NumberNode(false), new BooleanNode(), new NullNode()];
    private static readonly byte[][] Booleans = ["true"u8.ToArray(), "false"u8.ToArray()];
    private static readonly byte[][] Null = ["null"u8.ToArray()];
}

/// <summary>One of fixed texts (enum and const values, object keys, true/false/null), <paramref name="position"/> bytes in.</summary>
internal sealed class LiteralFrame(IReadOnlyList<byte[]> texts, int position, JsonFrame? parent, IReadOnlyList<int>? choices = null) : JsonFrame(parent)
{
    public override void Step(byte b, List<JsonFrame> into)
    {
        List<byte[]>? longer = null;
        List<int>? longerChoices = null;
        for (int i = 0; i < texts.Count; i++)
        {
            var text = texts[i];
            if (position >= text.Length || text[position] != b)
                continue;
            int choice = choices?[i] ?? i;
            if (position + 1 == text.Length)
                Complete(Parent, into, choice);
            else
            {
                (longer ??= []).Add(text);
                (longerChoices ??= []).Add(choice);
            }
        }
        if (longer is not null)
            into.Add(new LiteralFrame(longer, position + 1, Parent, longerChoices));
    }
}

/// <summary>Inside a string, after its opening quote.</summary>
internal sealed class StringFrame(JsonFrame? parent, int escape = 0, int utf8Left = 0) : JsonFrame(parent)
{
    public bool IsPlain => escape == 0 && utf8Left == 0;

    // escape: 0 none, 1 after '\', 2..5 hex digits of \uXXXX still to come (5 - escape + 1 of them).
    public override void Step(byte b, List<JsonFrame> into)
    {
        if (utf8Left > 0)
        {
            if ((b & 0xC0) == 0x80)
                into.Add(new StringFrame(Parent, 0, utf8Left - 1));
            return;
        }
        if (escape == 1)
        {
            if (b == 'u')
                into.Add(new StringFrame(Parent, 2));
            else if (b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                into.Add(new StringFrame(Parent));
            return;
        }
        if (escape >= 2)
        {
            if (char.IsAsciiHexDigit((char)b))
                into.Add(new StringFrame(Parent, escape == 5 ? 0 : escape + 1));
            return;
        }
        if (b == '"')
            Complete(Parent, into);
        else if (b == '\\')
            into.Add(new StringFrame(Parent, 1));
        else if (b < 0x20 || b == 0x7F)
            return; // control characters must be escaped
        else if (b < 0x80)
            into.Add(IsPlain ? this : new StringFrame(Parent)); // plain content leaves a plain string as it was
        else if (b is >= 0xC2 and <= 0xDF)
            into.Add(new StringFrame(Parent, 0, 1));
        else if (b is >= 0xE0 and <= 0xEF)
            into.Add(new StringFrame(Parent, 0, 2));
        else if (b is >= 0xF0 and <= 0xF4)
            into.Add(new StringFrame(Parent, 0, 3));
        // anything else cannot start a UTF-8 character
    }
}

/// <summary>A number, by the JSON grammar; it ends at the first byte that cannot continue it, which its parent then reads.</summary>
internal sealed class NumberFrame(bool integer, NumberFrame.Phase phase, int digits, JsonFrame? parent) : JsonFrame(parent)
{
    public enum Phase { Start, Minus, Zero, Int, Dot, Frac, E, ESign, Exp }

    private bool Accepting => phase is Phase.Zero or Phase.Int or Phase.Frac or Phase.Exp;

    public override bool CanEnd => Parent is null && Accepting;

    public override void Step(byte b, List<JsonFrame> into)
    {
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        Phase? next = phase switch
        {
            Phase.Start when b == '-' => Phase.Minus,
            Phase.Start or Phase.Minus when b == '0' => Phase.Zero,
            Phase.Start or Phase.Minus when digit => Phase.Int,
            Phase.Int when digit && digits < MaxDigits => Phase.Int,
            Phase.Zero or Phase.Int when b == '.' && !integer => Phase.Dot,
            Phase.Zero or Phase.Int or Phase.Frac when (b == 'e' || b == 'E') && !integer => Phase.E,
            Phase.Dot when digit => Phase.Frac,
            Phase.Frac when digit && digits < MaxDigits => Phase.Frac,
            Phase.E when b == '+' || b == '-' => Phase.ESign,
            Phase.E or Phase.ESign when digit => Phase.Exp,
            Phase.Exp when digit && digits < 3 => Phase.Exp,
            _ => null,
        };
        if (next is { } n)
        {
            into.Add(new NumberFrame(integer, n, n == phase ? digits + 1 : 1, Parent));
            return;
        }
        // The number is over: the byte belongs to whatever contains it.
        if (Accepting && Parent is not null)
        {
            var resumed = new List<JsonFrame>();
            Parent.Resumed(-1, resumed);
            foreach (var frame in resumed)
                frame.Step(b, into);
        }
    }
}

internal sealed class ArrayFrame(ArrayNode node, JsonFrame? parent, ArrayFrame.Phase phase, int count, int whitespace) : JsonFrame(parent)
{
    public enum Phase { AfterOpen, AfterItem }

    public override void Step(byte b, List<JsonFrame> into)
    {
        if (IsWhitespace(b))
        {
            if (MayContinueWhitespace(b, whitespace))
                into.Add(new ArrayFrame(node, Parent, phase, count, whitespace + 1));
            return;
        }
        if (b == ']' && count >= node.MinItems)
        {
            Complete(Parent, into);
            return;
        }
        if (phase == Phase.AfterOpen && node.MaxItems > 0)
            ValueFrame.Start(node.Items, b, new ArrayFrame(node, Parent, Phase.AfterItem, count + 1, 0), into);
        else if (phase == Phase.AfterItem && b == ',' && count < node.MaxItems)
            into.Add(new ValueFrame(node.Items, new ArrayFrame(node, Parent, Phase.AfterItem, count + 1, 0)));
    }

    // The item's frame was made with this frame (already counting the item) as its parent.
    public override void Resumed(int choice, List<JsonFrame> into) => into.Add(this);
}

/// <summary>A <see cref="WrappedNode"/>'s parts in turn: its prefix (stage 1), its value (2), its suffix (3).</summary>
internal sealed class WrappedFrame(WrappedNode node, int stage, JsonFrame? parent) : JsonFrame(parent)
{
    /// <summary>The first byte, which must start the prefix (or, without one, the value).</summary>
    public void Begin(byte b, List<JsonFrame> into)
    {
        if (node.Prefix.Length > 0)
            new LiteralFrame([node.Prefix], 0, this).Step(b, into);
        else
            ValueFrame.Start(node.Inner, b, new WrappedFrame(node, 2, Parent), into);
    }

    public override void Step(byte b, List<JsonFrame> into) => throw new InvalidOperationException("a wrapped value's parts read the bytes");

    public override void Resumed(int choice, List<JsonFrame> into)
    {
        if (stage == 1)
            into.Add(new ValueFrame(node.Inner, new WrappedFrame(node, 2, Parent)));
        else if (stage == 2 && node.Suffix.Length > 0)
            into.Add(new LiteralFrame([node.Suffix], 0, new WrappedFrame(node, 3, Parent)));
        else
            Complete(Parent, into);
    }
}
