using System.Runtime.ExceptionServices;
using System.Text;

namespace TokenFactory.Chat;

/// <summary>Python operator semantics over <see cref="JinjaValue"/>: equality, ordering, arithmetic, membership.</summary>
internal static class PyOps
{
    public static string TypeName(JinjaValue v) => v.Kind switch
    {
        JinjaKind.Undefined => "Undefined",
        JinjaKind.None => "NoneType",
        JinjaKind.Bool => "bool",
        JinjaKind.Int => "int",
        JinjaKind.Float => "float",
        JinjaKind.String => "str",
        JinjaKind.List => "list",
        JinjaKind.Tuple => "tuple",
        JinjaKind.Dict => "dict",
        JinjaKind.Namespace => "Namespace",
        _ => "function",
    };

    /// <summary>
    /// How deep <c>==</c> and <c>&lt;</c> descend into nested lists, tuples and dicts before giving up, like the repr and
    /// tojson limit: a template can nest a list a million deep, and recursing that far overflows the stack, which kills
    /// the process instead of failing the render.
    /// </summary>
    public const int MaxCompareDepth = 100;

    /// <summary>
    /// How many element pairs one comparison may visit. Depth alone is not enough: <c>a = [a, a]</c> repeated 60 times
    /// shares its halves, so comparing two such values visits 2^60 pairs within the depth limit.
    /// </summary>
    public const long MaxCompareVisits = 50_000_000;

    private sealed class CompareBudget
    {
        private long _visits;

        public void Visit(int depth)
        {
            if (depth > MaxCompareDepth) throw new TemplateException("maximum recursion depth exceeded in comparison");
            if (++_visits > MaxCompareVisits) throw new TemplateException("comparison too expensive: the values are too large or share too much structure");
        }
    }

    public static bool PyEquals(JinjaValue a, JinjaValue b) => PyEquals(a, b, null, 0);

    private static bool PyEquals(JinjaValue a, JinjaValue b, CompareBudget? budget, int depth)
    {
        if (ReferenceEquals(a, b)) return true;
        if (a.IsNumber && b.IsNumber)
        {
            if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return a.AsFloat == b.AsFloat;
            return a.AsInt == b.AsInt;
        }
        if (a.Kind != b.Kind) return false;
        switch (a.Kind)
        {
            case JinjaKind.Undefined:
            case JinjaKind.None: return true;
            case JinjaKind.String: return a.AsString == b.AsString;
            case JinjaKind.List:
            case JinjaKind.Tuple:
                var x = a.AsList;
                var y = b.AsList;
                if (x.Count != y.Count) return false;
                // Scalars never recurse, so the budget is only created once there is nesting to bound.
                budget ??= new CompareBudget();
                for (var i = 0; i < x.Count; i++)
                {
                    budget.Visit(depth + 1);
                    if (!PyEquals(x[i], y[i], budget, depth + 1)) return false;
                }
                return true;
            case JinjaKind.Dict:
                var d1 = a.AsDict;
                var d2 = b.AsDict;
                if (d1.Count != d2.Count) return false;
                budget ??= new CompareBudget();
                foreach (var (k, v) in d1)
                {
                    budget.Visit(depth + 1);
                    if (!d2.TryGetValue(k, out var v2) || !PyEquals(v, v2, budget, depth + 1)) return false;
                }
                return true;
            default: return false;
        }
    }

    /// <summary>Python ordering (<c>&lt;</c>); raises like Python for unorderable types.</summary>
    public static int Compare(JinjaValue a, JinjaValue b) => Compare(a, b, null, 0);

    private static int Compare(JinjaValue a, JinjaValue b, CompareBudget? budget, int depth)
    {
        if (a.IsNumber && b.IsNumber)
        {
            if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return a.AsFloat.CompareTo(b.AsFloat);
            return a.AsInt.CompareTo(b.AsInt);
        }
        if (a.IsString && b.IsString) return string.CompareOrdinal(a.AsString, b.AsString) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if (a.IsSequence && b.Kind == a.Kind)
        {
            var x = a.AsList;
            var y = b.AsList;
            budget ??= new CompareBudget();
            for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                budget.Visit(depth + 1);
                if (PyEquals(x[i], y[i], budget, depth + 1)) continue;
                return Compare(x[i], y[i], budget, depth + 1);
            }
            return x.Count.CompareTo(y.Count);
        }
        throw new TemplateException($"'<' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>
    /// Python's stable <c>sorted(items, key=key, reverse=descending)</c>. .NET's sort wraps a comparer's exception in
    /// an <see cref="InvalidOperationException"/>, which would surface as a generic server error instead of Python's
    /// TypeError for unorderable keys, so the template error is unwrapped.
    /// </summary>
    public static List<T> Sorted<T>(IEnumerable<T> items, Func<T, JinjaValue> key, bool descending = false)
    {
        var comparer = Comparer<JinjaValue>.Create(Compare);
        try
        {
            return (descending ? items.OrderByDescending(key, comparer) : items.OrderBy(key, comparer)).ToList();
        }
        catch (InvalidOperationException e) when (e.InnerException is TemplateException inner)
        {
            ExceptionDispatchInfo.Throw(inner);
            throw;
        }
        catch (ArgumentException e)
        {
            // The sort's answer to an intransitive comparer; only mixed int/float keys beyond 2^53 can be one.
            throw new TemplateException($"the sort keys are not consistently ordered: {e.Message}");
        }
    }

    public static bool Contains(JinjaValue container, JinjaValue item)
    {
        switch (container.Kind)
        {
            case JinjaKind.String:
                if (!item.IsString)
                    throw new TemplateException($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return container.AsString.Contains(item.AsString, StringComparison.Ordinal);
            case JinjaKind.List:
            case JinjaKind.Tuple:
                return container.AsList.Any(x => PyEquals(x, item));
            case JinjaKind.Dict:
            case JinjaKind.Namespace:
                return container.AsDict.ContainsKey(item);
            case JinjaKind.Undefined:
                return false;
            default:
                throw new TemplateException($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    /// <summary>Python iteration: strings by code point, dicts by key.</summary>
    public static List<JinjaValue> Iterate(JinjaValue v) => v.Kind switch
    {
        JinjaKind.Undefined => [],
        JinjaKind.List or JinjaKind.Tuple => [.. v.AsList],
        JinjaKind.Dict => [.. v.AsDict.Keys],
        JinjaKind.String => CodePoints(v.AsString).Select(JinjaValue.FromString).ToList(),
        _ => throw new TemplateException($"'{TypeName(v)}' object is not iterable"),
    };

    public static List<string> CodePoints(string s)
    {
        var result = new List<string>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else result.Add(s[i].ToString());
        }
        return result;
    }

    private static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\ud800', '\udfff') >= 0;

    public static long Length(JinjaValue v) => v.Kind switch
    {
        JinjaKind.Undefined => 0,
        JinjaKind.String => HasSurrogates(v.AsString) ? CodePoints(v.AsString).Count : v.AsString.Length,
        JinjaKind.List or JinjaKind.Tuple => v.AsList.Count,
        JinjaKind.Dict or JinjaKind.Namespace => v.AsDict.Count,
        _ => throw new TemplateException($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <param name="maxLength">Longest string (in chars) or list the result may be; checked before building it.</param>
    public static JinjaValue Add(JinjaValue a, JinjaValue b, int maxLength)
    {
        if (a.IsNumber && b.IsNumber)
        {
            if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return a.AsFloat + b.AsFloat;
            return Checked(() => checked(a.AsInt + b.AsInt));
        }
        if ((a.IsString && b.IsString) || (a.IsSequence && a.Kind == b.Kind))
        {
            // Summing or doubling in a loop would otherwise grow past any limit, one copy at a time.
            var length = a.IsString ? (long)a.AsString.Length + b.AsString.Length : (long)a.AsList.Count + b.AsList.Count;
            if (length > maxLength) throw new TemplateException(a.IsString ? "string too large" : "list too large");
        }
        if (a.IsString && b.IsString)
        {
            // Markup.__add__/__radd__ escape the plain operand.
            if (a.IsMarkup && !b.IsMarkup) return JinjaValue.FromMarkup(a.AsString + HtmlEscape(b.AsString));
            if (b.IsMarkup && !a.IsMarkup) return JinjaValue.FromMarkup(HtmlEscape(a.AsString) + b.AsString);
            return a.IsMarkup ? JinjaValue.FromMarkup(a.AsString + b.AsString) : JinjaValue.FromString(a.AsString + b.AsString);
        }
        if (a.Kind == JinjaKind.List && b.Kind == JinjaKind.List) return JinjaValue.FromList([.. a.AsList, .. b.AsList]);
        if (a.Kind == JinjaKind.Tuple && b.Kind == JinjaKind.Tuple) return JinjaValue.FromTuple([.. a.AsList, .. b.AsList]);
        throw Unsupported("+", a, b);
    }

    public static JinjaValue Subtract(JinjaValue a, JinjaValue b)
    {
        RequireNumbers("-", a, b);
        if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return a.AsFloat - b.AsFloat;
        return Checked(() => checked(a.AsInt - b.AsInt));
    }

    public static JinjaValue Multiply(JinjaValue a, JinjaValue b, int maxChars)
    {
        if (a.IsNumber && b.IsNumber)
        {
            if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return a.AsFloat * b.AsFloat;
            return Checked(() => checked(a.AsInt * b.AsInt));
        }
        if (b.IsString || b.IsSequence) (a, b) = (b, a);
        if ((a.IsString || a.IsSequence) && b.Kind is JinjaKind.Int or JinjaKind.Bool)
        {
            var n = Math.Max(0, b.AsInt);
            var length = Length(a);
            // An empty operand repeats to empty however large n is (looping n times would hang); otherwise divide
            // rather than multiply, as n * length overflows for n near long.MaxValue.
            if (length == 0) n = 0;
            else if (n > maxChars / length) throw new TemplateException("repetition result too large");
            if (a.IsString)
            {
                var sb = new StringBuilder();
                for (var i = 0; i < n; i++) sb.Append(a.AsString);
                return sb.ToString();
            }
            var list = new List<JinjaValue>();
            for (var i = 0; i < n; i++) list.AddRange(a.AsList);
            return a.Kind == JinjaKind.List ? JinjaValue.FromList(list) : JinjaValue.FromTuple(list);
        }
        throw Unsupported("*", a, b);
    }

    public static JinjaValue Divide(JinjaValue a, JinjaValue b)
    {
        RequireNumbers("/", a, b);
        if (b.AsFloat == 0) throw new TemplateException("division by zero");
        return a.AsFloat / b.AsFloat;
    }

    public static JinjaValue FloorDivide(JinjaValue a, JinjaValue b)
    {
        RequireNumbers("//", a, b);
        if (b.AsFloat == 0) throw new TemplateException("integer division or modulo by zero");
        if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float) return Math.Floor(a.AsFloat / b.AsFloat);
        if (a.AsInt == long.MinValue && b.AsInt == -1) throw new TemplateException("integer overflow");
        var q = a.AsInt / b.AsInt;
        if (a.AsInt % b.AsInt != 0 && (a.AsInt < 0) != (b.AsInt < 0)) q--;
        return q;
    }

    public static JinjaValue Modulo(JinjaValue a, JinjaValue b)
    {
        // str % args is PyPercentFormat, which the interpreter calls itself with its size limit.
        RequireNumbers("%", a, b);
        if (b.AsFloat == 0) throw new TemplateException("integer division or modulo by zero");
        if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float)
        {
            var r = a.AsFloat % b.AsFloat;
            if (r != 0 && (r < 0) != (b.AsFloat < 0)) r += b.AsFloat;
            return r;
        }
        if (b.AsInt == -1) return 0L;
        var m = a.AsInt % b.AsInt;
        if (m != 0 && (m < 0) != (b.AsInt < 0)) m += b.AsInt;
        return m;
    }

    public static JinjaValue Power(JinjaValue a, JinjaValue b)
    {
        RequireNumbers("**", a, b);
        if (a.Kind == JinjaKind.Float || b.Kind == JinjaKind.Float || b.AsInt < 0)
            return Math.Pow(a.AsFloat, b.AsFloat);
        return Checked(() =>
        {
            long result = 1, x = a.AsInt;
            for (var e = b.AsInt; e > 0; e >>= 1)
            {
                if ((e & 1) != 0) result = checked(result * x);
                if (e > 1) x = checked(x * x);
            }
            return result;
        });
    }

    public static JinjaValue Negate(JinjaValue a)
    {
        if (a.Kind == JinjaKind.Float) return -a.AsFloat;
        if (a.IsNumber) return Checked(() => checked(-a.AsInt));
        throw new TemplateException($"bad operand type for unary -: '{TypeName(a)}'");
    }

    public static string HtmlEscape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
        .Replace("'", "&#39;").Replace("\"", "&#34;");

    private static JinjaValue Checked(Func<long> op)
    {
        try { return op(); }
        catch (OverflowException) { throw new TemplateException("integer overflow (arbitrary precision integers are not supported)"); }
    }

    private static void RequireNumbers(string op, JinjaValue a, JinjaValue b)
    {
        if (!a.IsNumber || !b.IsNumber) throw Unsupported(op, a, b);
    }

    private static TemplateException Unsupported(string op, JinjaValue a, JinjaValue b) =>
        a.IsUndefined || b.IsUndefined
            ? (a.IsUndefined ? a : b).UndefinedError()
            : new TemplateException($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
}
