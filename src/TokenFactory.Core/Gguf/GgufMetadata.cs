using System.Collections;

namespace TokenFactory.Gguf;

/// <summary>The key/value section of a GGUF file, in file order, with typed accessors.</summary>
public sealed class GgufMetadata : IReadOnlyDictionary<string, GgufValue>
{
    private readonly Dictionary<string, GgufValue> _values = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    public GgufMetadata(string source = "metadata") => Source = source;

    /// <summary>Where these values came from, used in error messages.</summary>
    public string Source { get; }

    public IReadOnlyList<string> KeysInOrder => _order;

    public void Set(string key, GgufValue value)
    {
        if (!_values.ContainsKey(key))
            _order.Add(key);
        _values[key] = value;
    }

    internal bool TryAdd(string key, GgufValue value)
    {
        if (!_values.TryAdd(key, value))
            return false;
        _order.Add(key);
        return true;
    }

    public bool Remove(string key) => _values.Remove(key) && _order.Remove(key);

    public GgufValue this[string key] => _values[key];
    public IEnumerable<string> Keys => _order;
    public IEnumerable<GgufValue> Values => _order.Select(k => _values[k]);
    public int Count => _values.Count;
    public bool ContainsKey(string key) => _values.ContainsKey(key);
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out GgufValue value) => _values.TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => _order.Select(k => KeyValuePair.Create(k, _values[k])).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public string GetString(string key) => Get(key).Value as string ?? throw WrongType(key, "a string");

    public string? GetStringOrNull(string key) => _values.TryGetValue(key, out var v) ? v.Value as string : null;

    public long GetInt64(string key)
    {
        var v = Get(key);
        if (v.Value is ulong ul && ul > long.MaxValue)
            throw new TokenFactoryException($"{Source}: '{key}' = {ul} is out of range.");
        return v.IsInteger ? v.AsInt64() : throw WrongType(key, "an integer");
    }

    public int GetInt32(string key)
    {
        long v = GetInt64(key);
        return v is >= int.MinValue and <= int.MaxValue ? (int)v : throw new TokenFactoryException($"{Source}: '{key}' = {v} is out of range.");
    }

    public int? GetInt32OrNull(string key) => _values.ContainsKey(key) ? GetInt32(key) : null;

    public int GetInt32OrDefault(string key, int fallback) => _values.ContainsKey(key) ? GetInt32(key) : fallback;

    public float GetFloat(string key)
    {
        var v = Get(key);
        return v.Value is float or double || v.IsInteger ? (float)v.AsDouble() : throw WrongType(key, "a number");
    }

    public float GetFloatOrDefault(string key, float fallback) => _values.ContainsKey(key) ? GetFloat(key) : fallback;

    public bool GetBoolOrDefault(string key, bool fallback) =>
        _values.TryGetValue(key, out var v) ? v.Value switch { bool b => b, ulong ul => ul != 0, _ when v.IsInteger => v.AsInt64() != 0, _ => throw WrongType(key, "a bool") } : fallback;

    /// <summary>A typed array (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, …); integer arrays of another width are converted.</summary>
    public T[] GetArray<T>(string key)
    {
        var v = Get(key);
        if (v.Value is T[] typed)
            return typed;
        if (v.Value is Array a && typeof(T) == typeof(int) && v.ElementType != GgufValueType.String && v.ElementType != GgufValueType.Array)
        {
            var result = new int[a.Length];
            for (int i = 0; i < a.Length; i++)
            {
                try
                {
                    result[i] = Convert.ToInt32(a.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (OverflowException)
                {
                    throw new TokenFactoryException($"{Source}: metadata '{key}' element {i} ({a.GetValue(i)}) does not fit a 32-bit integer.");
                }
            }
            return (T[])(object)result;
        }
        if (v.Value is Array b && typeof(T) == typeof(float) && v.ElementType is GgufValueType.Float64)
        {
            var result = new float[b.Length];
            for (int i = 0; i < b.Length; i++)
                result[i] = (float)(double)b.GetValue(i)!;
            return (T[])(object)result;
        }
        throw WrongType(key, $"an array of {typeof(T).Name}");
    }

    public T[]? GetArrayOrNull<T>(string key) => _values.ContainsKey(key) ? GetArray<T>(key) : null;

    private GgufValue Get(string key) =>
        _values.TryGetValue(key, out var v) ? v : throw new TokenFactoryException($"{Source}: required metadata '{key}' is missing.");

    private TokenFactoryException WrongType(string key, string expected) =>
        new($"{Source}: metadata '{key}' should be {expected} but is {_values[key].Type}{(_values[key].Type == GgufValueType.Array ? " of " + _values[key].ElementType : "")}.");
}
