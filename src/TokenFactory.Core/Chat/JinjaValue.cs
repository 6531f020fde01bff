namespace TokenFactory.Chat;

public enum JinjaKind
{
    Undefined,
    None,
    Bool,
    Int,
    Float,
    String,
    List,
    Tuple,
    Dict,
    Callable,
    Namespace,
}

/// <summary>Delegate behind callable values: positional and keyword arguments as Jinja passes them.</summary>
public delegate JinjaValue JinjaFunction(IReadOnlyList<JinjaValue> args, IReadOnlyDictionary<string, JinjaValue> kwargs);

/// <summary>
/// A Python value as Jinja sees it. Lists and dicts are reference types shared between variables, exactly like
/// Python objects; everything else is immutable.
/// </summary>
public sealed partial class JinjaValue : IEquatable<JinjaValue>
{
    private readonly long _int;
    private readonly double _float;
    private readonly object? _ref;

    private JinjaValue(JinjaKind kind, long i = 0, double f = 0, object? r = null)
    {
        Kind = kind;
        _int = i;
        _float = f;
        _ref = r;
    }

    public JinjaKind Kind { get; }

    /// <summary>Jinja's message for the error raised when this undefined is misused ("'x' is undefined").</summary>
    public string? UndefinedMessage { get; private init; }

    /// <summary>Python's <c>Markup</c>: strings marked safe escape their plain operands on <c>+</c>.</summary>
    public bool IsMarkup { get; private init; }

    public static JinjaValue Undefined { get; } = new(JinjaKind.Undefined);
    public static JinjaValue None { get; } = new(JinjaKind.None);
    public static JinjaValue True { get; } = new(JinjaKind.Bool, 1);
    public static JinjaValue False { get; } = new(JinjaKind.Bool, 0);
    public static JinjaValue EmptyString { get; } = new(JinjaKind.String, r: "");

    public static JinjaValue UndefinedNamed(string name) => new(JinjaKind.Undefined) { UndefinedMessage = $"'{name}' is undefined" };
    public static JinjaValue UndefinedAttribute(JinjaValue owner, string name) =>
        new(JinjaKind.Undefined) { UndefinedMessage = $"'{PyOps.TypeName(owner)} object' has no attribute '{name}'" };
    public static JinjaValue UndefinedWithMessage(string message) => new(JinjaKind.Undefined) { UndefinedMessage = message };

    /// <summary>The error Jinja raises when an undefined value is used in an operation.</summary>
    public TemplateException UndefinedError() => new(UndefinedMessage ?? "value is undefined");
    public static JinjaValue FromBool(bool b) => b ? True : False;
    public static JinjaValue FromInt(long i) => new(JinjaKind.Int, i);
    public static JinjaValue FromFloat(double f) => new(JinjaKind.Float, f: f);
    public static JinjaValue FromString(string s) => s.Length == 0 ? EmptyString : new(JinjaKind.String, r: s);
    public static JinjaValue FromMarkup(string s) => new(JinjaKind.String, r: s) { IsMarkup = true };
    public static JinjaValue FromList(List<JinjaValue> items) => new(JinjaKind.List, r: items);
    public static JinjaValue FromList(IEnumerable<JinjaValue> items) => new(JinjaKind.List, r: items.ToList());
    public static JinjaValue FromTuple(IEnumerable<JinjaValue> items) => new(JinjaKind.Tuple, r: items.ToList());
    public static JinjaValue FromDict(JinjaDict dict) => new(JinjaKind.Dict, r: dict);
    public static JinjaValue FromNamespace(JinjaDict attrs) => new(JinjaKind.Namespace, r: attrs);
    public static JinjaValue FromFunction(string name, JinjaFunction fn) => new(JinjaKind.Callable, r: new JinjaCallable(name, fn));

    public static implicit operator JinjaValue(string s) => FromString(s);
    public static implicit operator JinjaValue(long i) => FromInt(i);
    public static implicit operator JinjaValue(bool b) => FromBool(b);
    public static implicit operator JinjaValue(double d) => FromFloat(d);

    public bool IsUndefined => Kind == JinjaKind.Undefined;
    public bool IsNone => Kind == JinjaKind.None;
    public bool IsString => Kind == JinjaKind.String;
    public bool IsNumber => Kind is JinjaKind.Int or JinjaKind.Float or JinjaKind.Bool;
    public bool IsSequence => Kind is JinjaKind.List or JinjaKind.Tuple;

    public bool AsBool => _int != 0;
    public long AsInt => _int;
    public double AsFloat => Kind == JinjaKind.Float ? _float : _int;
    public string AsString => (string)_ref!;
    public List<JinjaValue> AsList => (List<JinjaValue>)_ref!;
    public JinjaDict AsDict => (JinjaDict)_ref!;
    internal JinjaCallable AsCallable => (JinjaCallable)_ref!;

    /// <summary>Python truthiness; undefined is falsy as in Jinja's default <c>Undefined</c>.</summary>
    public bool IsTruthy => Kind switch
    {
        JinjaKind.Undefined or JinjaKind.None => false,
        JinjaKind.Bool or JinjaKind.Int => _int != 0,
        JinjaKind.Float => _float != 0,
        JinjaKind.String => AsString.Length != 0,
        JinjaKind.List or JinjaKind.Tuple => AsList.Count != 0,
        JinjaKind.Dict => AsDict.Count != 0,
        _ => true,
    };

    /// <summary>Python <c>str(value)</c>, which is what <c>{{ value }}</c> prints.</summary>
    public override string ToString() => PyFormat.Str(this);

    public bool Equals(JinjaValue? other) => other is not null && PyOps.PyEquals(this, other);

    public override bool Equals(object? obj) => obj is JinjaValue v && Equals(v);

    public override int GetHashCode() => Hash(this, HashDepth);

    /// <summary>
    /// Tuples hash only their length and the first few items a few levels down. Equal values still hash equal, and a
    /// hash never walks a tuple nested a million deep (a stack overflow) or one sharing its halves (exponential work).
    /// </summary>
    private const int HashDepth = 3;
    private const int HashItems = 8;

    private static int Hash(JinjaValue v, int depth) => v.Kind switch
    {
        JinjaKind.Bool or JinjaKind.Int => v._int.GetHashCode(),
        // Integral floats hash like the equal int so 1 and 1.0 find the same dict entry, as in Python.
        JinjaKind.Float => v._float == Math.Floor(v._float) && Math.Abs(v._float) < 9e18 ? ((long)v._float).GetHashCode() : v._float.GetHashCode(),
        JinjaKind.String => StringComparer.Ordinal.GetHashCode(v.AsString),
        JinjaKind.Tuple => depth == 0 ? v.AsList.Count : v.AsList.Take(HashItems).Aggregate(17 * 31 + v.AsList.Count, (h, item) => h * 31 + Hash(item, depth - 1)),
        _ => (int)v.Kind,
    };
}

internal sealed record JinjaCallable(string Name, JinjaFunction Function);

/// <summary>Insertion-ordered dictionary, like Python 3.7+ <c>dict</c>.</summary>
public sealed class JinjaDict : OrderedDictionary<JinjaValue, JinjaValue>
{
    public JinjaDict() { }

    public JinjaValue Get(string key) => TryGetValue(key, out var v) ? v : JinjaValue.UndefinedNamed(key);
}
