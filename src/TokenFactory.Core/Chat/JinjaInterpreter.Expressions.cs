using System.Runtime.CompilerServices;
using System.Text;

namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    private JinjaValue Eval(Expr expr)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        _line = expr.Line;
        // The clock is read every 256 expressions: often enough to stop within milliseconds, rarely enough to be free.
        if ((++_evals & 255) == 0) CheckTime();
        switch (expr)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return Lookup(n.Name);
            case ListExpr l: return JinjaValue.FromList(l.Items.Select(Eval).ToList());
            case TupleExpr t: return JinjaValue.FromTuple(t.Items.Select(Eval).ToList());
            case DictExpr d:
                var dict = new JinjaDict();
                foreach (var (k, v) in d.Items) dict[RequireHashable(Eval(k))] = Eval(v);
                return JinjaValue.FromDict(dict);
            case GetAttrExpr a: return GetAttr(Eval(a.Target), a.Attribute);
            case GetItemExpr g: return GetItem(Eval(g.Target), Eval(g.Index));
            case SliceExpr s:
                return Slice(Eval(s.Target), s.Start is null ? null : Eval(s.Start), s.Stop is null ? null : Eval(s.Stop), s.Step is null ? null : Eval(s.Step));
            case CallExpr c:
                var callee = Eval(c.Callee);
                var (args, kwargs) = EvalArgs(c.Args);
                return Invoke(callee, args, kwargs);
            case FilterExpr f: return ApplyFilter(f, Eval(f.Input!));
            case TestExpr t: return ApplyTest(t);
            case UnaryExpr u: return EvalUnary(u);
            case BinaryExpr b: return EvalBinary(b);
            case CompareExpr c: return EvalCompare(c);
            case CondExpr c:
                if (Eval(c.Test).IsTruthy) return Eval(c.Then);
                return c.Else is null ? JinjaValue.UndefinedWithMessage("the inline if-expression evaluated to false and no else section was defined.") : Eval(c.Else);
            default: throw new TemplateException($"unsupported expression {expr.GetType().Name}");
        }
    }

    private static JinjaValue RequireHashable(JinjaValue key) =>
        key.Kind is JinjaKind.List or JinjaKind.Dict or JinjaKind.Namespace
            ? throw new TemplateException($"unhashable type: '{PyOps.TypeName(key)}'")
            : key;

    private (List<JinjaValue> Args, Dictionary<string, JinjaValue> Kwargs) EvalArgs(Arguments a)
    {
        var args = a.Positional.Select(Eval).ToList();
        var kwargs = new Dictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var (name, value) in a.Named) kwargs[name] = Eval(value);
        return (args, kwargs);
    }

    private static JinjaValue Invoke(JinjaValue callee, List<JinjaValue> args, Dictionary<string, JinjaValue> kwargs)
    {
        if (callee.Kind == JinjaKind.Callable) return callee.AsCallable.Function(args, kwargs);
        if (callee.IsUndefined) throw callee.UndefinedError();
        throw new TemplateException($"'{PyOps.TypeName(callee)}' object is not callable");
    }

    private JinjaValue EvalUnary(UnaryExpr u)
    {
        var v = Eval(u.Operand);
        switch (u.Op)
        {
            case "not": return JinjaValue.FromBool(!v.IsTruthy);
            case "-":
                if (v.IsUndefined) throw v.UndefinedError();
                return PyOps.Negate(v);
            default:
                if (v.IsUndefined) throw v.UndefinedError();
                if (!v.IsNumber) throw new TemplateException($"bad operand type for unary +: '{PyOps.TypeName(v)}'");
                return v.Kind == JinjaKind.Bool ? JinjaValue.FromInt(v.AsInt) : v;
        }
    }

    private JinjaValue EvalBinary(BinaryExpr b)
    {
        if (b.Op == "and")
        {
            var l = Eval(b.Left);
            return l.IsTruthy ? Eval(b.Right) : l;
        }
        if (b.Op == "or")
        {
            var l = Eval(b.Left);
            return l.IsTruthy ? l : Eval(b.Right);
        }
        var left = Eval(b.Left);
        var right = Eval(b.Right);
        if (b.Op == "~")
        {
            var s = ToStr(left) + ToStr(right);
            if (s.Length > _options.MaxOutputChars) throw new TemplateException("string too large");
            return JinjaValue.FromString(s);
        }
        if (left.IsUndefined) throw left.UndefinedError();
        if (right.IsUndefined) throw right.UndefinedError();
        var result = b.Op switch
        {
            "+" => PyOps.Add(left, right, _options.MaxOutputChars),
            "-" => PyOps.Subtract(left, right),
            "*" => PyOps.Multiply(left, right, _options.MaxOutputChars),
            "/" => PyOps.Divide(left, right),
            "//" => PyOps.FloorDivide(left, right),
            "%" => left.IsString ? PyPercentFormat.Format(left.AsString, right, _options.MaxOutputChars) : PyOps.Modulo(left, right),
            "**" => PyOps.Power(left, right),
            _ => throw new TemplateException($"unknown operator {b.Op}"),
        };
        if (result.IsString && result.AsString.Length > _options.MaxOutputChars) throw new TemplateException("string too large");
        return result;
    }

    private JinjaValue EvalCompare(CompareExpr c)
    {
        var left = Eval(c.First);
        foreach (var (op, rightExpr) in c.Rest)
        {
            var right = Eval(rightExpr);
            if (!Compare(op, left, right)) return JinjaValue.False;
            left = right;
        }
        return JinjaValue.True;
    }

    private static bool Compare(string op, JinjaValue left, JinjaValue right)
    {
        switch (op)
        {
            case "==": return PyOps.PyEquals(left, right);
            case "!=": return !PyOps.PyEquals(left, right);
            case "in": return PyOps.Contains(right, left);
            case "notin": return !PyOps.Contains(right, left);
        }
        if (left.IsUndefined) throw left.UndefinedError();
        if (right.IsUndefined) throw right.UndefinedError();
        var cmp = PyOps.Compare(left, right);
        return op switch
        {
            "<" => cmp < 0,
            "<=" => cmp <= 0,
            ">" => cmp > 0,
            _ => cmp >= 0,
        };
    }

    /// <summary>Python's <c>str()</c>, failing as soon as a list's repr outgrows the output limit rather than after building it.</summary>
    private string ToStr(JinjaValue v) => PyFormat.Str(v, _options.MaxOutputChars);

    private static StringBuilder Join(IEnumerable<JinjaValue> items, string sep, int maxChars)
    {
        var sb = new StringBuilder();
        var first = true;
        foreach (var item in items)
        {
            if (!first) sb.Append(sep);
            first = false;
            sb.Append(PyFormat.Str(item, maxChars));
            // Checked per item: a thousand 16M-char strings would otherwise be joined before the length is looked at.
            if (sb.Length > maxChars) throw new TemplateException("string too large");
        }
        return sb;
    }
}
