namespace TokenFactory.Constraints;

/// <summary>
/// Inside an object. Declared properties come in the schema's order: <paramref name="next"/> is the first that may come
/// now (optional ones may be skipped, a required one may not), <paramref name="current"/> the one whose value is being
/// written. Free keys (no declared properties) are any strings, their values <see cref="ObjectNode.Additional"/>.
/// </summary>
internal sealed class ObjectFrame(ObjectNode node, JsonFrame? parent, ObjectFrame.Phase phase, int next, int current, int whitespace) : JsonFrame(parent)
{
    public enum Phase { AfterOpen, Key, AfterKey, AfterColon, AfterValue, AfterComma }

    private ObjectFrame With(Phase p, int nextProperty, int currentProperty) => new(node, Parent, p, nextProperty, currentProperty, 0);

    /// <summary>No required property is still to come: the object may close.</summary>
    private bool MayClose
    {
        get
        {
            for (int i = next; i < node.Properties.Count; i++)
                if (node.Properties[i].Required)
                    return false;
            return true;
        }
    }

    /// <summary>Whether another key may come at all (free keys always; declared ones while any is left).</summary>
    private bool MoreKeys => node.FreeKeys ? node.Additional is not LiteralNode { Texts.Count: 0 } : next < node.Properties.Count;

    public override void Step(byte b, List<JsonFrame> into)
    {
        if (IsWhitespace(b) && phase != Phase.Key)
        {
            if (MayContinueWhitespace(b, whitespace))
                into.Add(new ObjectFrame(node, Parent, phase, next, current, whitespace + 1));
            return;
        }
        switch (phase)
        {
            case Phase.AfterOpen when b == '}' && MayClose:
            case Phase.AfterValue when b == '}' && MayClose:
                Complete(Parent, into);
                break;
            case Phase.AfterOpen or Phase.AfterComma when MoreKeys:
                StartKey(b, into);
                break;
            case Phase.AfterKey when b == ':':
                into.Add(With(Phase.AfterColon, next, current));
                break;
            case Phase.AfterColon:
                var value = node.FreeKeys ? node.Additional : node.Properties[current].Value;
                ValueFrame.Start(value, b, With(Phase.AfterValue, node.FreeKeys ? 0 : current + 1, current), into);
                break;
            case Phase.AfterValue when b == ',' && MoreKeys:
                into.Add(With(Phase.AfterComma, next, current));
                break;
        }
    }

    private void StartKey(byte b, List<JsonFrame> into)
    {
        var waiting = With(Phase.Key, next, current);
        if (node.FreeKeys)
        {
            if (b == '"')
                into.Add(new StringFrame(waiting));
            return;
        }
        // The keys that may come now: from `next` up to and including the first required one.
        var keys = new List<byte[]>();
        var which = new List<int>();
        for (int i = next; i < node.Properties.Count; i++)
        {
            keys.Add(node.Properties[i].Key);
            which.Add(i);
            if (node.Properties[i].Required)
                break;
        }
        new LiteralFrame(keys, 0, waiting, which).Step(b, into);
    }

    public override void Resumed(int choice, List<JsonFrame> into)
    {
        if (phase == Phase.Key)
            into.Add(With(Phase.AfterKey, node.FreeKeys ? next : choice + 1, node.FreeKeys ? 0 : choice));
        else
            into.Add(this); // a value completed: this frame already says what may follow it
    }
}
