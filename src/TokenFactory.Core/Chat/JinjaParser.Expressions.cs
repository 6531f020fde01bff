using System.Globalization;

namespace TokenFactory.Chat;

internal sealed partial class JinjaParser
{
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    /// <summary>An expression, or an implicit tuple when commas follow (<c>{{ a, b }}</c>, <c>set x = 1, 2</c>).</summary>
    private Expr ParseTuple(bool withCondExpr = true)
    {
        var line = Current.Line;
        var first = withCondExpr ? ParseExpression() : ParseOr();
        if (!Current.IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOp(","))
        {
            if (IsTupleEnd()) break;
            items.Add(withCondExpr ? ParseExpression() : ParseOr());
        }
        return new TupleExpr(items, line);
    }

    private bool IsTupleEnd() =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof
        || Current.IsOp(")") || Current.IsOp("]") || Current.IsOp("}") || Current.IsName("in") || Current.IsName("if");

    private Expr ParseExpression()
    {
        Enter();
        var mark = _unknownNames.Count;
        var expr = ParseOr();
        if (Current.IsName("if")) _unknownNames.RemoveRange(mark, _unknownNames.Count - mark);
        var soft = _soft;
        _soft |= Current.IsName("if");
        while (Current.IsName("if"))
        {
            var line = Next().Line;
            var test = ParseOr();
            Expr? otherwise = null;
            if (SkipName("else")) otherwise = ParseExpression();
            expr = new CondExpr(test, expr, otherwise, line);
        }
        _soft = soft;
        _depth--;
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var line = Next().Line;
            left = new BinaryExpr("or", left, ParseAnd(), line);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var line = Next().Line;
            left = new BinaryExpr("and", left, ParseNot(), line);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var line = Next().Line;
            Enter();
            var operand = ParseNot();
            _depth--;
            return new UnaryExpr("not", operand, line);
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOps.Contains(Current.Value))
                rest.Add((Next().Value, ParseMath1()));
            else if (SkipName("in"))
                rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                Next();
                Next();
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, line);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-"))
        {
            var op = Next();
            left = new BinaryExpr(op.Value, left, ParseConcat(), op.Line);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOp("~"))
        {
            var op = Next();
            left = new BinaryExpr("~", left, ParseMath2(), op.Line);
        }
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.IsOp("*") || Current.IsOp("/") || Current.IsOp("//") || Current.IsOp("%"))
        {
            var op = Next();
            left = new BinaryExpr(op.Value, left, ParsePow(), op.Line);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOp("**"))
        {
            var op = Next();
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), op.Line);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Enter();
        Expr node;
        var t = Current;
        if (t.IsOp("-") || t.IsOp("+"))
        {
            Next();
            node = new UnaryExpr(t.Value, ParseUnary(withFilter: false), t.Line);
        }
        else node = ParsePostfix(ParsePrimary());
        if (withFilter) node = ParseFilterAndTests(node);
        _depth--;
        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(JinjaValue.True, t.Line),
                    "false" or "False" => new LiteralExpr(JinjaValue.False, t.Line),
                    "none" or "None" => new LiteralExpr(JinjaValue.None, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case TokenKind.String:
                var s = t.Value;
                // Adjacent string literals concatenate, as in Python.
                while (Current.Kind == TokenKind.String) s += Next().Value;
                return new LiteralExpr(JinjaValue.FromString(s), t.Line);
            case TokenKind.Integer:
                if (!long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var i))
                    throw Error("integer literal too large", t);
                return new LiteralExpr(JinjaValue.FromInt(i), t.Line);
            case TokenKind.Float:
                return new LiteralExpr(JinjaValue.FromFloat(double.Parse(t.Value, CultureInfo.InvariantCulture)), t.Line);
            case TokenKind.Operator when t.Value == "(":
                if (SkipOp(")")) return new TupleExpr([], t.Line);
                var inner = ParseTuple();
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when t.Value == "[":
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("]")) break;
                    items.Add(ParseExpression());
                }
                Next();
                return new ListExpr(items, t.Line);
            case TokenKind.Operator when t.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (pairs.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                }
                Next();
                return new DictExpr(pairs, t.Line);
            default:
                throw Error($"unexpected {t}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp("."))
            {
                Next();
                var attr = Next();
                if (attr.Kind == TokenKind.Name) node = new GetAttrExpr(node, attr.Value, t.Line);
                else if (attr.Kind == TokenKind.Integer)
                {
                    if (!long.TryParse(attr.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                        throw Error("integer literal too large", attr);
                    node = new GetItemExpr(node, new LiteralExpr(JinjaValue.FromInt(index), t.Line), t.Line);
                }
                else throw Error("expected name or number", attr);
            }
            else if (t.IsOp("["))
            {
                Next();
                node = ParseSubscript(node, t.Line);
                Expect(TokenKind.Operator, "]");
            }
            else if (t.IsOp("("))
            {
                node = new CallExpr(node, ParseCallArgs(), t.Line);
            }
            else return node;
        }
    }

    private Expr ParseSubscript(Expr target, int line)
    {
        Expr? start = null;
        if (!Current.IsOp(":"))
        {
            start = ParseExpression();
            if (!Current.IsOp(":")) return new GetItemExpr(target, start, line);
        }
        Next();
        Expr? stop = null, step = null;
        if (!Current.IsOp("]") && !Current.IsOp(":")) stop = ParseExpression();
        if (SkipOp(":") && !Current.IsOp("]")) step = ParseExpression();
        return new SliceExpr(target, start, stop, step, line);
    }

    private Arguments ParseCallArgs()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        while (!Current.IsOp(")"))
        {
            if (positional.Count + named.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp(")")) break;
            if (Current.Kind == TokenKind.Name && Peek().IsOp("="))
            {
                var name = Next().Value;
                Next();
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error("positional argument follows keyword argument", Current);
                positional.Add(ParseExpression());
            }
        }
        Next();
        return new Arguments(positional, named);
    }

    private Expr ParseFilterAndTests(Expr node)
    {
        while (true)
        {
            if (Current.IsOp("|"))
            {
                Next();
                node = ParseFilterCall(node);
            }
            else if (Current.IsName("is"))
            {
                var line = Next().Line;
                var negated = SkipName("not");
                var nameToken = Expect(TokenKind.Name);
                var name = nameToken.Value;
                CheckKnown(isFilter: false, name, nameToken);
                var args = Arguments.Empty;
                if (Current.IsOp("(")) args = ParseCallArgs();
                else if (Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || Current.IsOp("[") || Current.IsOp("{"))
                {
                    if (!(Current.Kind == TokenKind.Name && Current.Value is "else" or "or" or "and" or "if" or "in" or "is" or "not"))
                        args = new Arguments([ParsePostfix(ParsePrimary())], []);
                }
                node = new TestExpr(node, name, args, negated, line);
            }
            else return node;
        }
    }

    private FilterExpr ParseFilterCall(Expr? input)
    {
        var t = Expect(TokenKind.Name);
        var name = t.Value;
        while (Current.IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            Next();
            name += "." + Next().Value;
        }
        CheckKnown(isFilter: true, name, t);
        var args = Current.IsOp("(") ? ParseCallArgs() : Arguments.Empty;
        return new FilterExpr(input, name, args, t.Line);
    }
}
