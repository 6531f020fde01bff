using System.Globalization;
using System.Text;

namespace TokenFactory.Constraints;

/// <summary>A grammar that cannot be used, with where in its text the problem is (1-based line and column).</summary>
public sealed class GrammarException(string message, int line, int column)
    : TokenFactoryException(line > 0 ? $"{message} (line {line}, column {column})" : message)
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

/// <summary>
/// Reads a GBNF grammar (llama.cpp's notation) into grammar nodes the constrained sampler follows. Rules are
/// <c>name ::= alternatives</c>, the output must match <c>root</c>; an expression is alternatives (<c>|</c>) of
/// sequences of terms: <c>"literal"</c>, <c>[a-z0-9_]</c> / <c>[^"\\]</c> classes, <c>.</c> (any character), rule
/// names and <c>( … )</c> groups, each optionally followed by <c>*</c>, <c>+</c>, <c>?</c>, <c>{m}</c>, <c>{m,}</c> or
/// <c>{m,n}</c>; <c>#</c> starts a comment. Escapes: <c>\n \r \t \\ \" \[ \] \- \/ \xHH \uHHHH \UHHHHHHHH</c>.
/// Refused with a <see cref="GrammarException"/>: syntax errors, undefined rules, no <c>root</c>, left recursion, and a
/// repetition of something that may match nothing (each would let the matcher loop without reading a byte).
/// </summary>
public sealed class GbnfGrammar
{
    /// <summary>Largest grammar text accepted (bytes of UTF-16 text), and most rules.</summary>
    public const int MaxLength = 64 * 1024, MaxRules = 1024;

    private readonly string _text;
    private int _at;
    private readonly Dictionary<string, GrammarNode> _rules = new(StringComparer.Ordinal);
    private readonly List<(RuleNode Node, int At)> _references = [];

    private GbnfGrammar(string text) => _text = text;

    /// <summary>The grammar's <c>root</c> rule, ready for <see cref="JsonMatcher.Start"/>.</summary>
    public static GrammarNode Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
            throw new GrammarException($"The grammar is {text.Length} characters; at most {MaxLength} are accepted.", 0, 0);
        var g = new GbnfGrammar(text);
        g.ReadRules();
        return g.Resolve();
    }

    private void ReadRules()
    {
        SkipSpace(newlines: true);
        while (_at < _text.Length)
        {
            int start = _at;
            string name = Name() ?? throw Error("a rule name was expected");
            SkipSpace(newlines: false);
            if (!Take("::="))
                throw Error($"'::=' was expected after the rule name '{name}'");
            if (_rules.ContainsKey(name))
                throw Error($"the rule '{name}' is defined twice", start);
            if (_rules.Count == MaxRules)
                throw Error($"more than {MaxRules} rules");
            _rules[name] = Alternatives(topLevel: true);
            SkipSpace(newlines: true);
        }
    }

    private GrammarNode Alternatives(bool topLevel)
    {
        var alternatives = new List<GrammarNode> { Sequence(topLevel) };
        while (Peek() == '|')
        {
            _at++;
            alternatives.Add(Sequence(topLevel));
        }
        return alternatives.Count == 1 ? alternatives[0] : new ChoiceNode(alternatives);
    }

    private GrammarNode Sequence(bool topLevel)
    {
        var items = new List<GrammarNode>();
        while (true)
        {
            SkipSpace(newlines: true);
            if (_at >= _text.Length || Peek() is '|' or ')' || (topLevel && AtRuleStart()))
                break;
            items.Add(Postfix(Primary()));
        }
        return items.Count == 1 ? items[0] : new SequenceNode(items);
    }

    private GrammarNode Primary()
    {
        int start = _at;
        char c = _text[_at];
        switch (c)
        {
            case '"':
                _at++;
                var bytes = new List<byte>();
                while (true)
                {
                    if (_at >= _text.Length || _text[_at] == '\n')
                        throw Error("the literal is not closed", start);
                    if (_text[_at] == '"')
                    {
                        _at++;
                        return new TextNode([.. bytes]);
                    }
                    bytes.AddRange(Encoding.UTF8.GetBytes(char.ConvertFromUtf32(Character())));
                }
            case '[':
                _at++;
                bool negated = Peek() == '^';
                if (negated)
                    _at++;
                var ranges = new List<(int, int)>();
                while (true)
                {
                    if (_at >= _text.Length || _text[_at] == '\n')
                        throw Error("the character class is not closed", start);
                    if (_text[_at] == ']')
                    {
                        _at++;
                        if (ranges.Count == 0 && !negated)
                            throw Error("an empty character class matches nothing", start);
                        return new CharClassNode(ranges, negated);
                    }
                    int low = Character(), high = low;
                    if (Peek() == '-' && _at + 1 < _text.Length && _text[_at + 1] != ']')
                    {
                        _at++;
                        high = Character();
                        if (high < low)
                            throw Error("a character range runs backwards", start);
                    }
                    ranges.Add((low, high));
                }
            case '.':
                _at++;
                return new CharClassNode([], negated: true);
            case '(':
                _at++;
                var inner = Alternatives(topLevel: false);
                SkipSpace(newlines: true);
                if (!Take(")"))
                    throw Error("')' was expected", start);
                return inner;
            default:
                string name = Name() ?? throw Error($"unexpected '{c}'");
                var reference = new RuleNode(name);
                _references.Add((reference, start));
                return reference;
        }
    }

    private GrammarNode Postfix(GrammarNode term)
    {
        while (_at < _text.Length)
        {
            int start = _at;
            switch (_text[_at])
            {
                case '*':
                    _at++;
                    term = new RepeatNode(term, 0, int.MaxValue);
                    break;
                case '+':
                    _at++;
                    term = new RepeatNode(term, 1, int.MaxValue);
                    break;
                case '?':
                    _at++;
                    term = new RepeatNode(term, 0, 1);
                    break;
                case '{':
                    _at++;
                    int min = Number() ?? throw Error("a count was expected after '{'", start), max = min;
                    if (Take(","))
                        max = Number() ?? int.MaxValue;
                    if (!Take("}"))
                        throw Error("'}' was expected", start);
                    if (max < min)
                        throw Error($"the repetition {{{min},{max}}} has its bounds reversed", start);
                    term = new RepeatNode(term, min, max);
                    break;
                default:
                    return term;
            }
        }
        return term;
    }

    /// <summary>One character of a literal or class, escapes decoded; returns the code point.</summary>
    private int Character()
    {
        int start = _at;
        char c = _text[_at++];
        if (c != '\\')
        {
            if (char.IsHighSurrogate(c) && _at < _text.Length && char.IsLowSurrogate(_text[_at]))
                return char.ConvertToUtf32(c, _text[_at++]);
            return c;
        }
        if (_at >= _text.Length)
            throw Error("the escape is not finished", start);
        char e = _text[_at++];
        return e switch
        {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '\\' or '"' or '[' or ']' or '-' or '/' or '^' => e,
            'x' => Hex(2, start),
            'u' => Hex(4, start),
            'U' => Hex(8, start),
            _ => throw Error($"unknown escape '\\{e}'", start),
        };
    }

    private int Hex(int digits, int start)
    {
        if (_at + digits > _text.Length || !int.TryParse(_text.AsSpan(_at, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value)
            || value > 0x10FFFF || value is >= 0xD800 and <= 0xDFFF)
            throw Error($"{digits} hex digits of a character were expected", start);
        _at += digits;
        return value;
    }

    private int? Number()
    {
        SkipSpace(newlines: false);
        int start = _at;
        while (_at < _text.Length && char.IsAsciiDigit(_text[_at]))
            _at++;
        if (start == _at)
            return null;
        if (!int.TryParse(_text.AsSpan(start, _at - start), NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > 100_000)
            throw Error("a repetition count above 100000", start);
        SkipSpace(newlines: false);
        return value;
    }

    private string? Name()
    {
        int start = _at;
        while (_at < _text.Length && (char.IsAsciiLetterOrDigit(_text[_at]) || _text[_at] is '-' or '_'))
            _at++;
        return _at > start ? _text[start.._at] : null;
    }

    /// <summary>Whether a new rule begins here (<c>name ::=</c>): the current rule's expression ends before it.</summary>
    private bool AtRuleStart()
    {
        int saved = _at;
        bool result = Name() is not null && SkipSpaceAndCheck("::=");
        _at = saved;
        return result;
    }

    private bool SkipSpaceAndCheck(string what)
    {
        SkipSpace(newlines: false);
        return string.CompareOrdinal(_text, _at, what, 0, what.Length) == 0;
    }

    private void SkipSpace(bool newlines)
    {
        while (_at < _text.Length)
        {
            char c = _text[_at];
            if (c == '#')
            {
                while (_at < _text.Length && _text[_at] != '\n')
                    _at++;
            }
            else if (c is ' ' or '\t' or '\r' || (newlines && c == '\n'))
                _at++;
            else
                break;
        }
    }

    private char Peek() => _at < _text.Length ? _text[_at] : '\0';

    private bool Take(string what)
    {
        if (string.CompareOrdinal(_text, _at, what, 0, what.Length) != 0)
            return false;
        _at += what.Length;
        return true;
    }

    private GrammarException Error(string message, int? at = null)
    {
        int position = Math.Min(at ?? _at, _text.Length), line = 1, column = 1;
        for (int i = 0; i < position; i++)
        {
            if (_text[i] == '\n')
            {
                line++;
                column = 1;
            }
            else
                column++;
        }
        return new GrammarException($"The grammar is not valid: {message}", line, column);
    }

    private GrammarNode Resolve()
    {
        foreach (var (node, at) in _references)
            node.Target = _rules.GetValueOrDefault(node.Name) ?? throw Error($"the rule '{node.Name}' is not defined", at);
        if (!_rules.TryGetValue("root", out var root))
            throw new GrammarException("The grammar is not valid: it has no 'root' rule (the output must match root).", 0, 0);
        ComputeNullable();
        foreach (var (name, rule) in _rules)
        {
            CheckRepeats(rule, name, []);
            CheckLeftRecursion(name);
        }
        CheckEveryRuleCanEnd();
        return root;
    }

    /// <summary>
    /// Every rule the output may enter must have some way to end: one that needs itself again on every path
    /// (<c>l ::= "z" l</c>) would hold an answer that entered it to <c>max_tokens</c>, writing "zzz…". Which nodes can end is
    /// a least fixed point from the terminals up; a rule reachable from root that cannot is refused by name.
    /// </summary>
    private void CheckEveryRuleCanEnd()
    {
        var nodes = new List<GrammarNode>();
        var seen = new HashSet<GrammarNode>(ReferenceEqualityComparer.Instance);
        foreach (var rule in _rules.Values)
            Collect(rule, nodes, seen);
        var ends = new HashSet<GrammarNode>(ReferenceEqualityComparer.Instance);
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var node in nodes)
            {
                bool can = node switch
                {
                    SequenceNode q => q.Items.All(ends.Contains),
                    ChoiceNode c => c.Alternatives.Any(ends.Contains),
                    RepeatNode r => r.Min == 0 || ends.Contains(r.Item),
                    RuleNode r => ends.Contains(r.Resolved),
                    _ => true, // text, character classes
                };
                if (can && ends.Add(node))
                    grew = true;
            }
        }
        var reached = new HashSet<string>(StringComparer.Ordinal) { "root" };
        var pending = new Stack<string>(["root"]);
        while (pending.TryPop(out var name))
        {
            if (!ends.Contains(_rules[name]))
                throw new GrammarException($"The grammar is not valid: rule '{name}' can never end (every way through it needs it again), so an output that entered it would run to max_tokens.", 0, 0);
            var inRule = new List<GrammarNode>();
            Collect(_rules[name], inRule, new HashSet<GrammarNode>(ReferenceEqualityComparer.Instance));
            foreach (var reference in inRule.OfType<RuleNode>())
            {
                if (reached.Add(reference.Name))
                    pending.Push(reference.Name);
            }
        }
    }

    /// <summary>Which nodes may match nothing: repeated to a fixed point, since rules refer to each other.</summary>
    private void ComputeNullable()
    {
        var nodes = new List<GrammarNode>();
        var seen = new HashSet<GrammarNode>(ReferenceEqualityComparer.Instance);
        foreach (var rule in _rules.Values)
            Collect(rule, nodes, seen);
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var node in nodes)
            {
                bool nullable = node switch
                {
                    TextNode t => t.Bytes.Length == 0,
                    CharClassNode => false,
                    SequenceNode s => s.Items.All(i => i.Nullable),
                    ChoiceNode c => c.Alternatives.Any(a => a.Nullable),
                    RepeatNode r => r.Min == 0 || r.Item.Nullable,
                    RuleNode r => r.Resolved.Nullable,
                    _ => false,
                };
                if (nullable && !node.Nullable)
                {
                    node.Nullable = true;
                    changed = true;
                }
            }
        }
    }

    private static void Collect(GrammarNode node, List<GrammarNode> into, HashSet<GrammarNode> seen)
    {
        if (!seen.Add(node))
            return;
        into.Add(node);
        foreach (var child in Children(node))
            Collect(child, into, seen);
    }

    /// <summary>Children within a rule's own expression (a rule reference's target is its own rule, not a child).</summary>
    private static IEnumerable<GrammarNode> Children(GrammarNode node) => node switch
    {
        SequenceNode s => s.Items,
        ChoiceNode c => c.Alternatives,
        RepeatNode r => [r.Item],
        _ => [],
    };

    private void CheckRepeats(GrammarNode node, string rule, HashSet<GrammarNode> seen)
    {
        if (!seen.Add(node))
            return;
        if (node is RepeatNode { Max: > 1, Item.Nullable: true })
            throw new GrammarException($"The grammar is not valid: rule '{rule}' repeats something that may match nothing.", 0, 0);
        foreach (var child in Children(node))
            CheckRepeats(child, rule, seen);
    }

    /// <summary>A rule that can reach itself before reading a byte would loop forever: refused, as llama.cpp refuses it.</summary>
    private void CheckLeftRecursion(string start)
    {
        var visiting = new HashSet<string>(StringComparer.Ordinal);
        var done = new HashSet<string>(StringComparer.Ordinal);
        void Visit(string name)
        {
            if (done.Contains(name))
                return;
            if (!visiting.Add(name))
                throw new GrammarException($"The grammar is not valid: rule '{name}' is left-recursive (it can reach itself before reading a character).", 0, 0);
            foreach (var next in Leading(_rules[name]))
                Visit(next);
            visiting.Remove(name);
            done.Add(name);
        }
        Visit(start);
    }

    /// <summary>The rules a match of <paramref name="node"/> may enter before it has read anything.</summary>
    private static IEnumerable<string> Leading(GrammarNode node)
    {
        switch (node)
        {
            case RuleNode r:
                yield return r.Name;
                break;
            case SequenceNode s:
                foreach (var item in s.Items)
                {
                    foreach (var name in Leading(item))
                        yield return name;
                    if (!item.Nullable)
                        yield break;
                }
                break;
            case ChoiceNode c:
                foreach (var alternative in c.Alternatives)
                    foreach (var name in Leading(alternative))
                        yield return name;
                break;
            case RepeatNode r:
                foreach (var name in Leading(r.Item))
                    yield return name;
                break;
        }
    }
}
