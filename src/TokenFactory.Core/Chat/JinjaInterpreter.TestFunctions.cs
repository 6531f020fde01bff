namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    private delegate bool TestFn(JinjaInterpreter self, JinjaValue value, List<JinjaValue> args);

    private static JinjaValue Arg0(List<JinjaValue> args, string test) =>
        args.Count > 0 ? args[0] : throw new TemplateException($"test '{test}' requires an argument");

    private static readonly Dictionary<string, TestFn> Tests = new(StringComparer.Ordinal)
    {
        ["defined"] = (_, v, _) => !v.IsUndefined,
        ["undefined"] = (_, v, _) => v.IsUndefined,
        ["none"] = (_, v, _) => v.IsNone,
        ["boolean"] = (_, v, _) => v.Kind == JinjaKind.Bool,
        ["true"] = (_, v, _) => v.Kind == JinjaKind.Bool && v.AsBool,
        ["false"] = (_, v, _) => v.Kind == JinjaKind.Bool && !v.AsBool,
        ["integer"] = (_, v, _) => v.Kind == JinjaKind.Int,
        ["float"] = (_, v, _) => v.Kind == JinjaKind.Float,
        // bool is a numbers.Number in Python.
        ["number"] = (_, v, _) => v.IsNumber,
        ["string"] = (_, v, _) => v.IsString,
        ["mapping"] = (_, v, _) => v.Kind == JinjaKind.Dict,
        // Undefined defines __iter__ and __len__, so Jinja calls it iterable and a sequence.
        ["iterable"] = (_, v, _) => v.Kind is JinjaKind.String or JinjaKind.List or JinjaKind.Tuple or JinjaKind.Dict or JinjaKind.Undefined,
        ["sequence"] = (_, v, _) => v.Kind is JinjaKind.String or JinjaKind.List or JinjaKind.Tuple or JinjaKind.Dict or JinjaKind.Undefined,
        ["callable"] = (_, v, _) => v.Kind == JinjaKind.Callable,
        ["escaped"] = (_, v, _) => v.IsMarkup,
        ["lower"] = (self, v, _) => self.ToStr(v) is var s && s.Any(char.IsLetter) && !s.Any(char.IsUpper),
        ["upper"] = (self, v, _) => self.ToStr(v) is var s && s.Any(char.IsLetter) && !s.Any(char.IsLower),
        ["even"] = (_, v, _) => PyOps.Modulo(RequireNumber(v), 2L).AsFloat == 0,
        ["odd"] = (_, v, _) => PyOps.Modulo(RequireNumber(v), 2L).AsFloat == 1,
        ["divisibleby"] = (_, v, a) => PyOps.Modulo(RequireNumber(v), RequireNumber(Arg0(a, "divisibleby"))).AsFloat == 0,
        ["sameas"] = (_, v, a) => ReferenceEquals(v, Arg0(a, "sameas")) || (v.Kind is JinjaKind.None or JinjaKind.Bool && v.Kind == Arg0(a, "sameas").Kind && PyOps.PyEquals(v, a[0])),
        ["in"] = (_, v, a) => PyOps.Contains(Arg0(a, "in"), v),
        ["filter"] = (_, v, _) => v.IsString && Filters.ContainsKey(v.AsString),
        ["test"] = (_, v, _) => v.IsString && Tests!.ContainsKey(v.AsString),
        ["=="] = (_, v, a) => Compare("==", v, Arg0(a, "==")),
        ["eq"] = (_, v, a) => Compare("==", v, Arg0(a, "eq")),
        ["equalto"] = (_, v, a) => Compare("==", v, Arg0(a, "equalto")),
        ["!="] = (_, v, a) => Compare("!=", v, Arg0(a, "!=")),
        ["ne"] = (_, v, a) => Compare("!=", v, Arg0(a, "ne")),
        [">"] = (_, v, a) => Compare(">", v, Arg0(a, ">")),
        ["gt"] = (_, v, a) => Compare(">", v, Arg0(a, "gt")),
        ["greaterthan"] = (_, v, a) => Compare(">", v, Arg0(a, "greaterthan")),
        [">="] = (_, v, a) => Compare(">=", v, Arg0(a, ">=")),
        ["ge"] = (_, v, a) => Compare(">=", v, Arg0(a, "ge")),
        ["<"] = (_, v, a) => Compare("<", v, Arg0(a, "<")),
        ["lt"] = (_, v, a) => Compare("<", v, Arg0(a, "lt")),
        ["lessthan"] = (_, v, a) => Compare("<", v, Arg0(a, "lessthan")),
        ["<="] = (_, v, a) => Compare("<=", v, Arg0(a, "<=")),
        ["le"] = (_, v, a) => Compare("<=", v, Arg0(a, "le")),
    };

    internal static bool HasTest(string name) => Tests.ContainsKey(name);

    private static JinjaValue RequireNumber(JinjaValue v) =>
        v.IsUndefined ? throw v.UndefinedError() : v.IsNumber ? v : throw new TemplateException($"unsupported operand type(s) for %: '{PyOps.TypeName(v)}' and 'int'");

    private JinjaValue ApplyTest(TestExpr t)
    {
        if (!Tests.TryGetValue(t.Name, out var test))
            throw new TemplateException($"No test named '{t.Name}' found.");
        var value = Eval(t.Input);
        var (args, _) = EvalArgs(t.Args);
        return JinjaValue.FromBool(test(this, value, args) != t.Negated);
    }
}
