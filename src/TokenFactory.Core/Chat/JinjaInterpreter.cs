using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace TokenFactory.Chat;

/// <summary>
/// Tree-walking evaluator. One instance renders one template once; it is not thread-safe and not reused.
/// Statements live here; expressions, attribute access, filters, tests, methods and globals in partial files.
/// </summary>
internal sealed partial class JinjaInterpreter
{
    private enum Flow { Normal, Break, Continue }

    /// <summary>A variable frame. For-loop iterations, macros and <c>with</c> push one; <c>if</c> does not (as in Jinja).</summary>
    private sealed class Scope(Scope? parent)
    {
        public Dictionary<string, JinjaValue> Vars { get; } = new(StringComparer.Ordinal);

        public Scope? Parent { get; } = parent;
    }

    private readonly JinjaOptions _options;
    private readonly TimeProvider _clock;
    private readonly Dictionary<string, JinjaValue> _globals;
    private StringBuilder _out = new();
    private Scope _scope;
    private long _iterations;
    private int _callDepth;
    private readonly CancellationToken _cancellation;
    private readonly long _deadline;
    private int _evals;
    private int _line;

    private JinjaInterpreter(JinjaOptions options, TimeProvider clock, IReadOnlyDictionary<string, JinjaValue> context, CancellationToken cancellation)
    {
        _options = options;
        _clock = clock;
        _cancellation = cancellation;
        // Measured on the stopwatch, not _clock: the clock may be a frozen test clock, and only strftime_now reads it.
        var ticks = options.MaxRenderTime.TotalSeconds * Stopwatch.Frequency;
        _deadline = options.MaxRenderTime == Timeout.InfiniteTimeSpan || ticks >= long.MaxValue / 2 ? long.MaxValue : Stopwatch.GetTimestamp() + (long)ticks;
        _globals = CreateGlobals();
        _scope = new Scope(null);
        foreach (var (k, v) in context) _scope.Vars[k] = v;
    }

    public static string Render(List<Stmt> body, JinjaOptions options, TimeProvider clock, IReadOnlyDictionary<string, JinjaValue> context, CancellationToken cancellation)
    {
        var interpreter = new JinjaInterpreter(options, clock, context, cancellation);
        try
        {
            interpreter.ExecBlock(body);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException("template recursion too deep");
        }
        catch (Exception e) when (e is not (TemplateException or OperationCanceledException or OutOfMemoryException))
        {
            // The last line of defence: the server answers a TemplateException with a clear 400 naming the template,
            // anything else with a generic 500. Every known cause is fixed where it happens; this catches the next one.
            throw new TemplateException($"the template failed near line {interpreter._line}: {e.GetType().Name}: {e.Message}", e);
        }
        return interpreter._out.ToString();
    }

    /// <summary>Enforces <see cref="JinjaOptions.MaxRenderTime"/> and the caller's cancellation.</summary>
    private void CheckTime()
    {
        _cancellation.ThrowIfCancellationRequested();
        if (Stopwatch.GetTimestamp() > _deadline)
            throw new TemplateException($"template rendering exceeded the time limit of {_options.MaxRenderTime.TotalSeconds:0.###} s (near line {_line})");
    }

    private JinjaValue Lookup(string name)
    {
        for (var s = _scope; s is not null; s = s.Parent)
            if (s.Vars.TryGetValue(name, out var v)) return v;
        return _globals.TryGetValue(name, out var g) ? g : JinjaValue.UndefinedNamed(name);
    }

    private Flow ExecBlock(List<Stmt> body)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        foreach (var stmt in body)
        {
            var flow = Exec(stmt);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt stmt)
    {
        _line = stmt.Line;
        switch (stmt)
        {
            case TextStmt t:
                Write(t.Text);
                return Flow.Normal;
            case PrintStmt p:
                Write(ToStr(Eval(p.Value)));
                return Flow.Normal;
            case IfStmt i:
                foreach (var (test, body) in i.Branches)
                    if (Eval(test).IsTruthy) return ExecBlock(body);
                return i.Else is null ? Flow.Normal : ExecBlock(i.Else);
            case ForStmt f:
                ExecFor(f);
                return Flow.Normal;
            case SetStmt s:
                Assign(s.Target, Eval(s.Value));
                return Flow.Normal;
            case SetBlockStmt sb:
                var captured = JinjaValue.FromString(Capture(sb.Body));
                foreach (var filter in sb.Filters) captured = ApplyFilter(filter, captured);
                Assign(sb.Target, captured);
                return Flow.Normal;
            case MacroStmt m:
                _scope.Vars[m.Name] = MakeMacro(m.Name, m.Params, m.Body, _scope);
                return Flow.Normal;
            case CallBlockStmt c:
                ExecCallBlock(c);
                return Flow.Normal;
            case FilterBlockStmt fb:
                var text = JinjaValue.FromString(Capture(fb.Body));
                foreach (var filter in fb.Filters) text = ApplyFilter(filter, text);
                Write(ToStr(text));
                return Flow.Normal;
            case WithStmt w:
                var values = w.Assignments.Select(a => Eval(a.Value)).ToList();
                return InScope(new Scope(_scope), () =>
                {
                    for (var k = 0; k < values.Count; k++) Assign(w.Assignments[k].Target, values[k]);
                    return ExecBlock(w.Body);
                });
            case ScopeStmt sc:
                return ExecBlock(sc.Body);
            case BreakStmt:
                return Flow.Break;
            case ContinueStmt:
                return Flow.Continue;
            default:
                throw new TemplateException($"unsupported statement {stmt.GetType().Name}");
        }
    }

    private void Write(string s)
    {
        if (_out.Length + s.Length > _options.MaxOutputChars)
            throw new TemplateException("template output exceeds the configured limit");
        _out.Append(s);
    }

    private T InScope<T>(Scope scope, Func<T> action)
    {
        var saved = _scope;
        _scope = scope;
        try { return action(); }
        finally { _scope = saved; }
    }

    /// <summary>Renders a body into a string instead of the output (block set, filter blocks, macros).</summary>
    private string Capture(List<Stmt> body)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            ExecBlock(body);
            if (saved.Length + _out.Length > _options.MaxOutputChars)
                throw new TemplateException("template output exceeds the configured limit");
            return _out.ToString();
        }
        finally { _out = saved; }
    }

    private void CountIteration()
    {
        CheckTime();
        if (++_iterations > _options.MaxLoopIterations)
            throw new TemplateException("template exceeded the loop iteration limit");
    }

    private void ExecFor(ForStmt f)
    {
        if (f.Recursive) throw new TemplateException("recursive for loops are not supported");
        var source = Eval(f.Iterable);
        var items = PyOps.Iterate(source);
        if (f.Filter is not null)
        {
            items = items.Where(item =>
            {
                CountIteration();
                return InScope(new Scope(_scope), () =>
                {
                    Assign(f.Target, item);
                    return Eval(f.Filter).IsTruthy;
                });
            }).ToList();
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) InScope(new Scope(_scope), () => ExecBlock(f.Else));
            return;
        }
        var loopAttrs = new JinjaDict();
        var loop = JinjaValue.FromNamespace(loopAttrs);
        // depth only grows in recursive loops, which are not supported, so it is always 1.
        const int depth = 1;
        for (var i = 0; i < items.Count; i++)
        {
            CountIteration();
            var n = items.Count;
            var index0 = i;
            loopAttrs["index0"] = (long)i;
            loopAttrs["index"] = (long)(i + 1);
            loopAttrs["revindex0"] = (long)(n - i - 1);
            loopAttrs["revindex"] = (long)(n - i);
            loopAttrs["first"] = i == 0;
            loopAttrs["last"] = i == n - 1;
            loopAttrs["length"] = (long)n;
            loopAttrs["depth"] = (long)depth;
            loopAttrs["depth0"] = (long)(depth - 1);
            if (i > 0) loopAttrs["previtem"] = items[i - 1];
            else loopAttrs.Remove("previtem");
            if (i < n - 1) loopAttrs["nextitem"] = items[i + 1];
            else loopAttrs.Remove("nextitem");
            loopAttrs["cycle"] = JinjaValue.FromFunction("cycle", (args, _) =>
            {
                if (args.Count == 0) throw new TemplateException("no items for cycling given");
                return args[index0 % args.Count];
            });
            var item = items[i];
            var flow = InScope(new Scope(_scope), () =>
            {
                Assign(f.Target, item);
                _scope.Vars["loop"] = loop;
                return ExecBlock(f.Body);
            });
            if (flow == Flow.Break) break;
        }
    }

    private void Assign(Target target, JinjaValue value)
    {
        switch (target)
        {
            case NameTarget n:
                _scope.Vars[n.Name] = value;
                break;
            case AttrTarget a:
                var ns = Lookup(a.Object);
                if (ns.Kind != JinjaKind.Namespace)
                    throw new TemplateException($"cannot assign attribute on non-namespace object (line {a.Line})");
                ns.AsDict[a.Attribute] = value;
                break;
            case TupleTarget t:
                var items = PyOps.Iterate(value);
                if (items.Count != t.Items.Count)
                    throw new TemplateException(items.Count > t.Items.Count
                        ? $"too many values to unpack (expected {t.Items.Count})"
                        : $"not enough values to unpack (expected {t.Items.Count}, got {items.Count})");
                for (var i = 0; i < items.Count; i++) Assign(t.Items[i], items[i]);
                break;
        }
    }

    private JinjaValue MakeMacro(string name, List<(string Name, Expr? Default)> parameters, List<Stmt> body, Scope closure)
    {
        return JinjaValue.FromFunction(name, (args, kwargs) =>
        {
            if (++_callDepth > _options.MaxCallDepth)
                throw new TemplateException("maximum macro recursion depth exceeded");
            CheckTime();
            try
            {
                var scope = new Scope(closure);
                return InScope(scope, () =>
                {
                    var extra = new List<JinjaValue>();
                    for (var i = 0; i < args.Count; i++)
                    {
                        if (i < parameters.Count) scope.Vars[parameters[i].Name] = args[i];
                        else extra.Add(args[i]);
                    }
                    var extraKw = new JinjaDict();
                    foreach (var (k, v) in kwargs)
                    {
                        var idx = parameters.FindIndex(p => p.Name == k);
                        if (idx >= 0 && idx < args.Count)
                            throw new TemplateException($"macro '{name}' got multiple values for argument '{k}'");
                        if (idx >= 0 || k == "caller") scope.Vars[k] = v;
                        else extraKw[k] = v;
                    }
                    for (var i = args.Count; i < parameters.Count; i++)
                    {
                        var p = parameters[i];
                        if (scope.Vars.ContainsKey(p.Name)) continue;
                        scope.Vars[p.Name] = p.Default is null ? JinjaValue.UndefinedWithMessage($"parameter '{p.Name}' was not provided") : Eval(p.Default);
                    }
                    scope.Vars["varargs"] = JinjaValue.FromTuple(extra);
                    scope.Vars["kwargs"] = JinjaValue.FromDict(extraKw);
                    return JinjaValue.FromString(Capture(body));
                });
            }
            finally { _callDepth--; }
        });
    }

    private void ExecCallBlock(CallBlockStmt c)
    {
        var caller = MakeMacro("caller", c.CallerParams, c.Body, _scope);
        var callee = Eval(c.Call.Callee);
        var (args, kwargs) = EvalArgs(c.Call.Args);
        kwargs["caller"] = caller;
        Write(ToStr(Invoke(callee, args, kwargs)));
    }
}
