namespace TokenFactory.Chat;

/// <summary>Python-style argument binding for built-in filters, tests, methods and globals.</summary>
internal static class JinjaArgs
{
    /// <summary>Argument <paramref name="index"/> by position or by <paramref name="name"/>; <paramref name="fallback"/> when absent (null = required).</summary>
    public static JinjaValue Get(IReadOnlyList<JinjaValue> args, IReadOnlyDictionary<string, JinjaValue> kwargs, int index, string name, JinjaValue? fallback = null)
    {
        if (index >= 0 && index < args.Count) return args[index];
        if (kwargs.TryGetValue(name, out var v)) return v;
        return fallback ?? throw new TemplateException($"missing required argument '{name}'");
    }

    public static string? OptString(JinjaValue v, string what)
    {
        if (v.IsNone || v.IsUndefined) return null;
        if (v.IsString) return v.AsString;
        throw new TemplateException($"{what} must be str or None, not {PyOps.TypeName(v)}");
    }

    public static string String(JinjaValue v, string what) =>
        v.IsString ? v.AsString : throw new TemplateException($"{what} must be str, not {PyOps.TypeName(v)}");

    public static long Int(JinjaValue v, string what) =>
        v.Kind is JinjaKind.Int or JinjaKind.Bool ? v.AsInt : throw new TemplateException($"{what}: '{PyOps.TypeName(v)}' object cannot be interpreted as an integer");

    public static void MaxPositional(IReadOnlyList<JinjaValue> args, int max, string name)
    {
        if (args.Count > max) throw new TemplateException($"{name}() takes at most {max} arguments ({args.Count} given)");
    }
}
