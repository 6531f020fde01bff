using static TokenFactory.Chat.JinjaArgs;

namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    // No `len`: it is not a Jinja global, and templates that call it fail upstream too.
    private Dictionary<string, JinjaValue> CreateGlobals() => new(StringComparer.Ordinal)
    {
        ["range"] = JinjaValue.FromFunction("range", Range),
        ["namespace"] = JinjaValue.FromFunction("namespace", (a, k) => JinjaValue.FromNamespace(MergeArgs(a, k, "namespace"))),
        ["dict"] = JinjaValue.FromFunction("dict", (a, k) => JinjaValue.FromDict(MergeArgs(a, k, "dict"))),
        ["raise_exception"] = JinjaValue.FromFunction("raise_exception", (a, k) =>
            throw new TemplateRaisedException(ToStr(Get(a, k, 0, "message")))),
        ["strftime_now"] = JinjaValue.FromFunction("strftime_now", (a, k) =>
            PyStrftime.Format(_clock.GetLocalNow().DateTime, String(Get(a, k, 0, "format"), "format"))),
        ["joiner"] = JinjaValue.FromFunction("joiner", (a, k) =>
        {
            var sep = Get(a, k, 0, "sep", ", ");
            var used = false;
            return JinjaValue.FromFunction("joiner", (_, _) =>
            {
                if (used) return sep;
                used = true;
                return "";
            });
        }),
    };

    private JinjaValue Range(IReadOnlyList<JinjaValue> a, IReadOnlyDictionary<string, JinjaValue> k)
    {
        if (a.Count is 0 or > 3) throw new TemplateException($"range expected 1 to 3 arguments, got {a.Count}");
        long start = 0, step = 1, stop;
        if (a.Count == 1) stop = Int(a[0], "range");
        else
        {
            start = Int(a[0], "range");
            stop = Int(a[1], "range");
            if (a.Count == 3) step = Int(a[2], "range");
        }
        if (step == 0) throw new TemplateException("range() arg 3 must not be zero");
        // In 128 bits: stop - start + step overflows a long for steps near long.MaxValue.
        var count = Int128.Max(0, step > 0 ? ((Int128)stop - start + step - 1) / step : ((Int128)start - stop - step - 1) / -(Int128)step);
        if (count > _options.MaxLoopIterations) throw new TemplateException("range too big");
        var list = new List<JinjaValue>((int)count);
        for (var i = 0L; i < count; i++) list.Add(start + i * step);
        return JinjaValue.FromList(list);
    }

    private static JinjaDict MergeArgs(IReadOnlyList<JinjaValue> a, IReadOnlyDictionary<string, JinjaValue> k, string name)
    {
        var d = new JinjaDict();
        if (a.Count > 1) throw new TemplateException($"{name} expected at most 1 positional argument");
        if (a.Count == 1)
        {
            if (a[0].Kind is JinjaKind.Dict or JinjaKind.Namespace)
                foreach (var (key, v) in a[0].AsDict) d[key] = v;
            else
                foreach (var pair in PyOps.Iterate(a[0]))
                {
                    var kv = PyOps.Iterate(pair);
                    if (kv.Count != 2) throw new TemplateException($"{name} update sequence element has wrong length");
                    d[RequireHashable(kv[0])] = kv[1];
                }
        }
        foreach (var (key, v) in k) d[key] = v;
        return d;
    }
}
