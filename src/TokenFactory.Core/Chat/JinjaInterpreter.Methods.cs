using System.Text;
using static TokenFactory.Chat.JinjaArgs;

namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    private static readonly HashSet<string> MutatingListMethods = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"];
    private static readonly HashSet<string> MutatingDictMethods = ["pop", "popitem", "setdefault", "update", "clear"];

    /// <summary>Python methods of str, list and dict that templates call; null when the type has no such attribute.</summary>
    private JinjaValue? BindMethod(JinjaValue obj, string name)
    {
        JinjaFunction? fn = obj.Kind switch
        {
            JinjaKind.String => StringMethod(obj.AsString, name),
            JinjaKind.Dict => DictMethod(obj, name),
            JinjaKind.List or JinjaKind.Tuple => ListMethod(obj, name),
            _ => null,
        };
        return fn is null ? null : JinjaValue.FromFunction(name, fn);
    }

    private JinjaFunction? StringMethod(string s, string name) => name switch
    {
        "strip" => (a, k) => PyStr.Strip(s, OptString(Get(a, k, 0, "chars", JinjaValue.None), "chars")),
        "lstrip" => (a, k) => PyStr.Strip(s, OptString(Get(a, k, 0, "chars", JinjaValue.None), "chars"), right: false),
        "rstrip" => (a, k) => PyStr.Strip(s, OptString(Get(a, k, 0, "chars", JinjaValue.None), "chars"), left: false),
        "split" => (a, k) => StrList(PyStr.Split(s, OptString(Get(a, k, 0, "sep", JinjaValue.None), "sep"), Int(Get(a, k, 1, "maxsplit", -1L), "maxsplit"))),
        "rsplit" => (a, k) => StrList(PyStr.RSplit(s, OptString(Get(a, k, 0, "sep", JinjaValue.None), "sep"), Int(Get(a, k, 1, "maxsplit", -1L), "maxsplit"))),
        "splitlines" => (a, k) => StrList(PyStr.SplitLines(s, Get(a, k, 0, "keepends", false).IsTruthy)),
        "startswith" => (a, k) => AffixTest(s, Get(a, k, 0, "prefix"), true),
        "endswith" => (a, k) => AffixTest(s, Get(a, k, 0, "suffix"), false),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => PyStr.Title(s),
        "capitalize" => (_, _) => PyStr.Capitalize(s),
        "swapcase" => (_, _) => string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c))),
        "replace" => (a, k) => Check(PyStr.Replace(s, String(Get(a, k, 0, "old"), "old"), String(Get(a, k, 1, "new"), "new"), Int(Get(a, k, 2, "count", -1L), "count"), _options.MaxOutputChars)),
        "find" => (a, k) => Find(s, String(Get(a, k, 0, "sub"), "sub"), false, false),
        "rfind" => (a, k) => Find(s, String(Get(a, k, 0, "sub"), "sub"), true, false),
        "index" => (a, k) => Find(s, String(Get(a, k, 0, "sub"), "sub"), false, true),
        "rindex" => (a, k) => Find(s, String(Get(a, k, 0, "sub"), "sub"), true, true),
        "count" => (a, k) => PyStr.Count(s, String(Get(a, k, 0, "sub"), "sub")),
        "join" => (a, k) => Check(Join(PyOps.Iterate(Get(a, k, 0, "iterable")).Select(v => v.IsString ? v : throw new TemplateException($"sequence item: expected str instance, {PyOps.TypeName(v)} found")), s, _options.MaxOutputChars).ToString()),
        "format" => (a, k) => Check(StrFormat(s, a, k, _options.MaxOutputChars)),
        "isdigit" or "isnumeric" or "isdecimal" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
        "isalpha" => (_, _) => s.Length > 0 && s.All(char.IsLetter),
        "isalnum" => (_, _) => s.Length > 0 && s.All(char.IsLetterOrDigit),
        "isspace" => (_, _) => s.Length > 0 && s.All(PyStr.IsSpace),
        "isupper" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower),
        "islower" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper),
        "removeprefix" => (a, k) => Get(a, k, 0, "prefix") is { IsString: true } p && s.StartsWith(p.AsString, StringComparison.Ordinal) ? s[p.AsString.Length..] : s,
        "removesuffix" => (a, k) => Get(a, k, 0, "suffix") is { IsString: true } p && p.AsString.Length > 0 && s.EndsWith(p.AsString, StringComparison.Ordinal) ? s[..^p.AsString.Length] : s,
        "zfill" => (a, k) => ZFill(s, (int)Math.Clamp(Int(Get(a, k, 0, "width"), "width"), 0, _options.MaxOutputChars)),
        "center" or "ljust" or "rjust" => (a, k) => Justify(s, name, Int(Get(a, k, 0, "width"), "width"), Get(a, k, 1, "fillchar", " ")),
        "partition" or "rpartition" => (a, k) => Partition(s, String(Get(a, k, 0, "sep"), "sep"), name == "rpartition"),
        _ => null,
    };

    private JinjaValue Check(string s) =>
        s.Length > _options.MaxOutputChars ? throw new TemplateException("string too large") : JinjaValue.FromString(s);

    private static JinjaValue StrList(IEnumerable<string> parts) => JinjaValue.FromList(parts.Select(JinjaValue.FromString));

    private static JinjaValue AffixTest(string s, JinjaValue affix, bool prefix)
    {
        IEnumerable<JinjaValue> candidates = affix.Kind == JinjaKind.Tuple ? affix.AsList : [affix];
        foreach (var c in candidates)
        {
            var text = String(c, prefix ? "startswith first arg" : "endswith first arg");
            if (prefix ? s.StartsWith(text, StringComparison.Ordinal) : s.EndsWith(text, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private static JinjaValue Find(string s, string sub, bool fromRight, bool raise)
    {
        var idx = fromRight ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
        if (idx < 0 && raise) throw new TemplateException("substring not found");
        // Python indexes by code point, .NET by UTF-16 unit.
        return idx < 0 ? -1L : PyOps.Length(JinjaValue.FromString(s[..idx]));
    }

    private static JinjaValue ZFill(string s, int width)
    {
        if (s.Length >= width) return s;
        var sign = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
        return s[..sign] + new string('0', width - s.Length) + s[sign..];
    }

    private JinjaValue Justify(string s, string how, long width, JinjaValue fill)
    {
        var f = String(fill, "fillchar");
        if (f.Length != 1) throw new TemplateException("The fill character must be exactly one character long");
        var w = (int)Math.Clamp(width, 0, _options.MaxOutputChars);
        var len = (int)PyOps.Length(JinjaValue.FromString(s));
        if (len >= w) return s;
        var pad = w - len;
        if (how == "ljust") return s + new string(f[0], pad);
        if (how == "rjust") return new string(f[0], pad) + s;
        // CPython's centering puts the extra space on the right unless both lengths are odd.
        var left = pad / 2 + (pad & w & 1);
        return new string(f[0], left) + s + new string(f[0], pad - left);
    }

    private static JinjaValue Partition(string s, string sep, bool fromRight)
    {
        if (sep.Length == 0) throw new TemplateException("empty separator");
        var idx = fromRight ? s.LastIndexOf(sep, StringComparison.Ordinal) : s.IndexOf(sep, StringComparison.Ordinal);
        if (idx < 0) return fromRight ? JinjaValue.FromTuple(["", "", s]) : JinjaValue.FromTuple([s, "", ""]);
        return JinjaValue.FromTuple([s[..idx], sep, s[(idx + sep.Length)..]]);
    }

    /// <summary><c>str.format</c> with plain <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields (no format specs).</summary>
    private static string StrFormat(string s, IReadOnlyList<JinjaValue> args, IReadOnlyDictionary<string, JinjaValue> kwargs, int maxChars)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < s.Length && s[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c == '}') throw new TemplateException("Single '}' encountered in format string");
            if (c != '{') { sb.Append(c); continue; }
            var close = s.IndexOf('}', i);
            if (close < 0) throw new TemplateException("Single '{' encountered in format string");
            var field = s[(i + 1)..close];
            if (field.Contains(':') || field.Contains('!') || field.Contains('.') || field.Contains('['))
                throw new TemplateException("format specifications are not supported in str.format");
            JinjaValue value;
            if (field.Length == 0)
                value = auto < args.Count ? args[auto++] : throw new TemplateException($"Replacement index {auto} out of range for positional args tuple");
            // Only plain digits index the arguments; Python reads "-1" as a keyword name.
            else if (int.TryParse(field, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                value = n < args.Count ? args[n] : throw new TemplateException($"Replacement index {n} out of range for positional args tuple");
            else
                value = kwargs.TryGetValue(field, out var kv) ? kv : throw new TemplateException($"KeyError: '{field}'");
            sb.Append(PyFormat.Str(value, maxChars));
            if (sb.Length > maxChars) throw new TemplateException("string too large");
            i = close;
        }
        return sb.ToString();
    }

    private JinjaFunction? DictMethod(JinjaValue obj, string name)
    {
        var dict = obj.AsDict;
        if (MutatingDictMethods.Contains(name) && !_options.AllowMutation) return Unsafe(obj, name);
        return name switch
        {
            "items" => (_, _) => JinjaValue.FromList(dict.Select(e => JinjaValue.FromTuple([e.Key, e.Value]))),
            "keys" => (_, _) => JinjaValue.FromList(dict.Keys),
            "values" => (_, _) => JinjaValue.FromList(dict.Values),
            "get" => (a, k) => dict.TryGetValue(RequireHashable(Get(a, k, 0, "key")), out var v) ? v : Get(a, k, 1, "default", JinjaValue.None),
            "copy" => (_, _) => JinjaValue.FromDict(CopyDict(dict)),
            "pop" => (a, _) =>
            {
                var key = Get(a, ReadOnlyEmpty, 0, "key");
                if (dict.Remove(key, out var v)) return v;
                return a.Count > 1 ? a[1] : throw new TemplateException($"KeyError: {PyFormat.Brief(key)}");
            },
            "setdefault" => (a, _) =>
            {
                var key = RequireHashable(Get(a, ReadOnlyEmpty, 0, "key"));
                if (!dict.TryGetValue(key, out var v)) dict[key] = v = a.Count > 1 ? a[1] : JinjaValue.None;
                return v;
            },
            "update" => (a, k) =>
            {
                // dict.update takes a mapping or an iterable of pairs, plus keywords, exactly like dict().
                foreach (var (key, v) in MergeArgs(a, k, "update")) dict[key] = v;
                return JinjaValue.None;
            },
            "clear" => (_, _) => { dict.Clear(); return JinjaValue.None; },
            _ => null,
        };
    }

    private static readonly IReadOnlyDictionary<string, JinjaValue> ReadOnlyEmpty = new Dictionary<string, JinjaValue>();

    private static JinjaDict CopyDict(JinjaDict d)
    {
        var copy = new JinjaDict();
        foreach (var (k, v) in d) copy[k] = v;
        return copy;
    }

    private static JinjaFunction Unsafe(JinjaValue obj, string name) =>
        (_, _) => throw new TemplateException($"access to attribute '{name}' of '{PyOps.TypeName(obj)}' object is unsafe.");

    private JinjaFunction? ListMethod(JinjaValue obj, string name)
    {
        var list = obj.AsList;
        if (MutatingListMethods.Contains(name) && (obj.Kind == JinjaKind.Tuple)) return null;
        if (MutatingListMethods.Contains(name) && !_options.AllowMutation) return Unsafe(obj, name);
        return name switch
        {
            "index" => (a, k) =>
            {
                var target = Get(a, k, 0, "value");
                var idx = list.FindIndex(v => PyOps.PyEquals(v, target));
                return idx >= 0 ? idx : throw new TemplateException($"{PyFormat.Brief(target)} is not in list");
            },
            "count" => (a, k) => (long)list.Count(v => PyOps.PyEquals(v, Get(a, k, 0, "value"))),
            "copy" => (_, _) => JinjaValue.FromList([.. list]),
            "append" => (a, _) => { CheckGrowth(list); list.Add(Get(a, ReadOnlyEmpty, 0, "object")); return JinjaValue.None; },
            "extend" => (a, _) => { CheckGrowth(list); list.AddRange(PyOps.Iterate(Get(a, ReadOnlyEmpty, 0, "iterable"))); return JinjaValue.None; },
            "insert" => (a, _) =>
            {
                CheckGrowth(list);
                var i = Int(Get(a, ReadOnlyEmpty, 0, "index"), "index");
                if (i < 0) i = Math.Max(0, i + list.Count);
                list.Insert((int)Math.Min(i, list.Count), Get(a, ReadOnlyEmpty, 1, "object"));
                return JinjaValue.None;
            },
            "pop" => (a, _) =>
            {
                if (list.Count == 0) throw new TemplateException("pop from empty list");
                var i = a.Count > 0 ? Int(a[0], "index") : -1;
                if (i < 0) i += list.Count;
                if (i < 0 || i >= list.Count) throw new TemplateException("pop index out of range");
                var v = list[(int)i];
                list.RemoveAt((int)i);
                return v;
            },
            "remove" => (a, _) =>
            {
                var value = Get(a, ReadOnlyEmpty, 0, "value");
                var idx = list.FindIndex(v => PyOps.PyEquals(v, value));
                if (idx < 0) throw new TemplateException("list.remove(x): x not in list");
                list.RemoveAt(idx);
                return JinjaValue.None;
            },
            "reverse" => (_, _) => { list.Reverse(); return JinjaValue.None; },
            "sort" => (_, _) => { var sorted = PyOps.Sorted(list, v => v); list.Clear(); list.AddRange(sorted); return JinjaValue.None; },
            "clear" => (_, _) => { list.Clear(); return JinjaValue.None; },
            _ => null,
        };
    }

    private void CheckGrowth(List<JinjaValue> list)
    {
        if (list.Count >= _options.MaxLoopIterations) throw new TemplateException("list grew beyond the configured limit");
    }
}
