namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    /// <summary>
    /// <c>obj.name</c> as Jinja's sandbox does it: Python attribute first (so <c>d.items</c> is the method even when
    /// the dict has an "items" key), then <c>obj['name']</c>, else undefined.
    /// </summary>
    private JinjaValue GetAttr(JinjaValue obj, string name)
    {
        switch (obj.Kind)
        {
            case JinjaKind.Undefined:
                throw obj.UndefinedError();
            case JinjaKind.Namespace:
                return obj.AsDict.TryGetValue(name, out var nv) ? nv : JinjaValue.UndefinedAttribute(obj, name);
            case JinjaKind.Dict:
                var m = BindMethod(obj, name);
                if (m is not null) return m;
                return obj.AsDict.TryGetValue(name, out var dv) ? dv : JinjaValue.UndefinedAttribute(obj, name);
            default:
                return BindMethod(obj, name) ?? JinjaValue.UndefinedAttribute(obj, name);
        }
    }

    /// <summary><c>obj[key]</c>: item first, then attribute for string keys, else undefined.</summary>
    private JinjaValue GetItem(JinjaValue obj, JinjaValue key)
    {
        switch (obj.Kind)
        {
            case JinjaKind.Undefined:
                throw obj.UndefinedError();
            case JinjaKind.Dict:
            case JinjaKind.Namespace:
                if (key.Kind is JinjaKind.List or JinjaKind.Dict) throw new TemplateException($"unhashable type: '{PyOps.TypeName(key)}'");
                if (obj.AsDict.TryGetValue(key, out var v)) return v;
                break;
            case JinjaKind.List:
            case JinjaKind.Tuple:
            case JinjaKind.String:
                if (key.Kind is JinjaKind.Int or JinjaKind.Bool)
                {
                    var len = PyOps.Length(obj);
                    var i = key.AsInt < 0 ? key.AsInt + len : key.AsInt;
                    if (i < 0 || i >= len)
                        return JinjaValue.UndefinedWithMessage($"{PyOps.TypeName(obj)} object has no element {key.AsInt}");
                    if (obj.IsString)
                        return obj.AsString.Length == len ? obj.AsString[(int)i].ToString() : PyOps.CodePoints(obj.AsString)[(int)i];
                    return obj.AsList[(int)i];
                }
                break;
        }
        if (key.IsString) return GetAttr(obj, key.AsString);
        return JinjaValue.UndefinedWithMessage($"'{PyOps.TypeName(obj)} object' has no attribute '{PyFormat.Brief(key)}'");
    }

    private static JinjaValue Slice(JinjaValue obj, JinjaValue? start, JinjaValue? stop, JinjaValue? step)
    {
        if (obj.IsUndefined) throw obj.UndefinedError();
        if (!obj.IsString && !obj.IsSequence)
            throw new TemplateException($"'{PyOps.TypeName(obj)}' object is not subscriptable");
        long? Index(JinjaValue? v, string what)
        {
            if (v is null || v.IsNone) return null;
            if (v.Kind is JinjaKind.Int or JinjaKind.Bool) return v.AsInt;
            throw new TemplateException($"slice indices must be integers or None, not {PyOps.TypeName(v)} ({what})");
        }
        var stepValue = Index(step, "step") ?? 1;
        if (stepValue == 0) throw new TemplateException("slice step cannot be zero");
        var items = obj.IsString ? PyOps.CodePoints(obj.AsString).Select(JinjaValue.FromString).ToList() : obj.AsList;
        var indices = SliceIndices(items.Count, Index(start, "start"), Index(stop, "stop"), stepValue);
        var picked = indices.Select(i => items[i]);
        if (obj.IsString) return JinjaValue.FromString(string.Concat(picked.Select(p => p.AsString)));
        return obj.Kind == JinjaKind.List ? JinjaValue.FromList(picked) : JinjaValue.FromTuple(picked);
    }

    /// <summary>Python's <c>slice.indices</c> followed by <c>range</c>.</summary>
    internal static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long step)
    {
        long lo, hi;
        if (step > 0)
        {
            lo = start is { } s ? (s < 0 ? Math.Max(0, s + length) : Math.Min(s, length)) : 0;
            hi = stop is { } e ? (e < 0 ? Math.Max(0, e + length) : Math.Min(e, length)) : length;
            // Stop before i + step could overflow: a step near long.MaxValue would wrap to a negative index.
            for (var i = lo; i < hi; i = step >= hi - i ? hi : i + step) yield return (int)i;
        }
        else
        {
            lo = start is { } s ? (s < 0 ? Math.Max(-1, s + length) : Math.Min(s, length - 1)) : length - 1;
            hi = stop is { } e ? (e < 0 ? Math.Max(-1, e + length) : Math.Min(e, length - 1)) : -1;
            for (var i = lo; i > hi; i = step <= hi - i ? hi : i + step) yield return (int)i;
        }
    }
}
