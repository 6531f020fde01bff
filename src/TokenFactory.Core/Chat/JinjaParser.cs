namespace TokenFactory.Chat;

/// <summary>Recursive-descent parser following Jinja2's grammar; statements here, expressions in the partial.</summary>
internal sealed partial class JinjaParser
{
    private readonly List<JinjaToken> _tokens;
    private readonly JinjaOptions _options;
    private int _pos;
    private int _depth;
    private int _loopDepth;

    // Jinja reports unknown filters and tests at compile time, except inside `if` statements and conditional
    // expressions, where the error is deferred until the filter actually runs.
    private bool _soft;
    private readonly List<TemplateException> _unknownNames = [];

    private JinjaParser(List<JinjaToken> tokens, JinjaOptions options)
    {
        _tokens = tokens;
        _options = options;
    }

    public static List<Stmt> Parse(string source, JinjaOptions options)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source, options), options);
        var body = parser.Subparse();
        if (parser.Current.Kind != TokenKind.Eof)
            throw parser.Error($"Encountered unknown tag '{parser.Current.Value}'.", parser.Current);
        return body;
    }

    private JinjaToken Current => _tokens[_pos];

    private JinjaToken Peek(int n = 1) => _tokens[Math.Min(_pos + n, _tokens.Count - 1)];

    private JinjaToken Next()
    {
        var t = _tokens[_pos];
        if (_pos < _tokens.Count - 1) _pos++;
        return t;
    }

    private TemplateException Error(string message, JinjaToken at) => new(message, at.Line, at.Column);

    private JinjaToken Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || (value is not null && t.Value != value))
        {
            var wanted = value is not null ? $"'{value}'" : kind.ToString().ToLowerInvariant();
            throw Error($"expected token {wanted}, got {t}", t);
        }
        return Next();
    }

    private bool SkipOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        Next();
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Next();
        return true;
    }

    private void Enter()
    {
        if (++_depth > _options.MaxNestingDepth) throw Error("template nesting too deep", Current);
    }

    /// <summary>
    /// Parses statements until a block tag named in <paramref name="endTags"/>; stops with the cursor on that name
    /// (just after <c>{%</c>) so the caller can decide what to do with it.
    /// </summary>
    private List<Stmt> Subparse(params string[] endTags)
    {
        Enter();
        var body = new List<Stmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"Unexpected end of template. Jinja was looking for the following tags: {string.Join(" or ", endTags.Select(e => $"'{e}'"))}.", t);
                    _depth--;
                    return body;
                case TokenKind.Data:
                    body.Add(new TextStmt(Next().Value, t.Line));
                    break;
                case TokenKind.VariableBegin:
                    Next();
                    body.Add(new PrintStmt(ParseTuple(), t.Line));
                    Expect(TokenKind.VariableEnd);
                    ThrowUnknownNames();
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Value))
                    {
                        Next();
                        _depth--;
                        return body;
                    }
                    Next();
                    body.Add(ParseStatement());
                    ThrowUnknownNames();
                    break;
                default:
                    throw Error($"unexpected {t}", t);
            }
        }
    }

    private void ExpectBlockEnd()
    {
        Expect(TokenKind.BlockEnd);
        ThrowUnknownNames();
    }

    private void ThrowUnknownNames()
    {
        if (_unknownNames.Count > 0) throw _unknownNames[0];
    }

    private void CheckKnown(bool isFilter, string name, JinjaToken at)
    {
        if (_soft || (isFilter ? JinjaInterpreter.HasFilter(name) : JinjaInterpreter.HasTest(name))) return;
        _unknownNames.Add(Error($"No {(isFilter ? "filter" : "test")} named '{name}'.", at));
    }

    /// <summary>Parses with <see cref="_soft"/> set as given (if-statements soften; loops and macros harden again).</summary>
    private T WithSoft<T>(bool soft, Func<T> parse)
    {
        var saved = _soft;
        _soft = soft;
        try { return parse(); }
        finally { _soft = saved; }
    }

    /// <summary>Consumes an end tag such as <c>endfor</c> whose name the cursor is on.</summary>
    private void EndTag(string name)
    {
        Expect(TokenKind.Name, name);
        ExpectBlockEnd();
    }

    private Stmt ParseStatement()
    {
        var t = Current;
        if (t.Kind != TokenKind.Name) throw Error("tag name expected", t);
        switch (t.Value)
        {
            case "if": return ParseIf();
            case "for": return ParseFor();
            case "set": return ParseSet();
            case "macro": return ParseMacro();
            case "call": return ParseCallBlock();
            case "filter": return ParseFilterBlock();
            case "with": return ParseWith();
            case "generation":
                // Hugging Face's AssistantTracker tag: renders its body unchanged.
                Next();
                ExpectBlockEnd();
                var gen = Subparse("endgeneration");
                EndTag("endgeneration");
                return new ScopeStmt(gen, t.Line);
            case "break":
            case "continue":
                Next();
                if (_loopDepth == 0) throw Error($"'{t.Value}' outside of a loop", t);
                ExpectBlockEnd();
                return t.Value == "break" ? new BreakStmt(t.Line) : new ContinueStmt(t.Line);
            default:
                throw Error($"Encountered unknown tag '{t.Value}'.", t);
        }
    }

    private IfStmt ParseIf() => WithSoft(true, ParseIfCore);

    private IfStmt ParseIfCore()
    {
        var line = Next().Line;
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? elseBody = null;
        while (true)
        {
            var test = ParseTuple(withCondExpr: false);
            ExpectBlockEnd();
            var body = Subparse("elif", "else", "endif");
            branches.Add((test, body));
            var tag = Next();
            if (tag.Value == "elif") continue;
            if (tag.Value == "else")
            {
                ExpectBlockEnd();
                elseBody = Subparse("endif");
                Next();
            }
            ExpectBlockEnd();
            return new IfStmt(branches, elseBody, line);
        }
    }

    private ForStmt ParseFor()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(allowAttr: false);
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondExpr: false);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseTuple(withCondExpr: false);
        var recursive = SkipName("recursive");
        ExpectBlockEnd();
        _loopDepth++;
        var body = WithSoft(false, () => Subparse("endfor", "else"));
        _loopDepth--;
        List<Stmt>? elseBody = null;
        if (Next().Value == "else")
        {
            ExpectBlockEnd();
            elseBody = Subparse("endfor");
            Next();
        }
        ExpectBlockEnd();
        return new ForStmt(target, iterable, filter, body, elseBody, recursive, line);
    }

    private Stmt ParseSet()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(allowAttr: true);
        if (SkipOp("="))
        {
            var value = ParseTuple();
            ExpectBlockEnd();
            return new SetStmt(target, value, line);
        }
        var filters = ParseFilterChain();
        ExpectBlockEnd();
        var body = Subparse("endset");
        EndTag("endset");
        return new SetBlockStmt(target, filters, body, line);
    }

    private MacroStmt ParseMacro()
    {
        var line = Next().Line;
        var name = Expect(TokenKind.Name).Value;
        var parameters = ParseSignature();
        ExpectBlockEnd();
        var outerLoops = _loopDepth;
        _loopDepth = 0;
        var body = WithSoft(false, () => Subparse("endmacro"));
        _loopDepth = outerLoops;
        EndTag("endmacro");
        return new MacroStmt(name, parameters, body, line);
    }

    private List<(string, Expr?)> ParseSignature()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOp(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp(")")) break;
            var p = Expect(TokenKind.Name).Value;
            Expr? def = null;
            if (SkipOp("=")) def = ParseExpression();
            else if (parameters.Count > 0 && parameters[^1].Item2 is not null)
                throw Error("non-default argument follows default argument", Current);
            parameters.Add((p, def));
        }
        Next();
        return parameters;
    }

    private CallBlockStmt ParseCallBlock()
    {
        var line = Next().Line;
        var callerParams = Current.IsOp("(") ? ParseSignature() : [];
        if (ParseExpression() is not CallExpr call) throw Error("expected call", Current);
        ExpectBlockEnd();
        var body = Subparse("endcall");
        EndTag("endcall");
        return new CallBlockStmt(call, callerParams, body, line);
    }

    private FilterBlockStmt ParseFilterBlock()
    {
        var line = Next().Line;
        var filters = new List<FilterExpr> { ParseFilterCall(null) };
        filters.AddRange(ParseFilterChain());
        ExpectBlockEnd();
        var body = Subparse("endfilter");
        EndTag("endfilter");
        return new FilterBlockStmt(filters, body, line);
    }

    private WithStmt ParseWith()
    {
        var line = Next().Line;
        var assignments = new List<(Target, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0) Expect(TokenKind.Operator, ",");
            var target = ParseAssignTarget(allowAttr: false);
            Expect(TokenKind.Operator, "=");
            assignments.Add((target, ParseExpression()));
        }
        ExpectBlockEnd();
        var body = Subparse("endwith");
        EndTag("endwith");
        return new WithStmt(assignments, body, line);
    }

    private List<FilterExpr> ParseFilterChain()
    {
        var filters = new List<FilterExpr>();
        while (SkipOp("|")) filters.Add(ParseFilterCall(null));
        return filters;
    }

    private Target ParseAssignTarget(bool allowAttr)
    {
        var first = ParseSingleTarget(allowAttr);
        if (!Current.IsOp(",")) return first;
        var items = new List<Target> { first };
        while (SkipOp(","))
        {
            if (Current.Kind != TokenKind.Name) break;
            items.Add(ParseSingleTarget(allowAttr: false));
        }
        return new TupleTarget(items, first.Line);
    }

    private Target ParseSingleTarget(bool allowAttr)
    {
        if (SkipOp("("))
        {
            var inner = ParseAssignTarget(allowAttr: false);
            Expect(TokenKind.Operator, ")");
            return inner;
        }
        var name = Expect(TokenKind.Name);
        if (name.Value is "true" or "false" or "none" or "True" or "False" or "None")
            throw Error($"can't assign to '{name.Value}'", name);
        if (allowAttr && SkipOp("."))
            return new AttrTarget(name.Value, Expect(TokenKind.Name).Value, name.Line);
        return new NameTarget(name.Value, name.Line);
    }
}
