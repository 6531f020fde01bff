using System.Globalization;

namespace TokenFactory.Gguf;

/// <summary>
/// One metadata value. Scalars are boxed CLR primitives; arrays of scalars are typed CLR arrays
/// (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, …) so vocabularies load without per-element boxing;
/// arrays of arrays are <c>GgufValue[]</c>.
/// </summary>
public sealed class GgufValue
{
    public GgufValue(GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public GgufValueType Type { get; }

    /// <summary>For arrays, the type of the elements.</summary>
    public GgufValueType ElementType { get; }

    public object Value { get; }

    public int ArrayLength => Value is Array a ? a.Length : throw new InvalidOperationException("Not an array.");

    public static GgufValue Of(string s) => new(GgufValueType.String, s);
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Of(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Of(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Of(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue Of(string[] v) => new(GgufValueType.Array, v, GgufValueType.String);
    public static GgufValue Of(float[] v) => new(GgufValueType.Array, v, GgufValueType.Float32);
    public static GgufValue Of(int[] v) => new(GgufValueType.Array, v, GgufValueType.Int32);
    public static GgufValue Of(bool[] v) => new(GgufValueType.Array, v, GgufValueType.Bool);

    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16
        or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64
        or GgufValueType.Int64;

    /// <summary>Any integer type widened to long (a uint64 above long.MaxValue is an error).</summary>
    public long AsInt64() => Value switch
    {
        byte b => b,
        sbyte sb => sb,
        ushort us => us,
        short s => s,
        uint ui => ui,
        int i => i,
        ulong ul => ul <= long.MaxValue ? (long)ul : throw new InvalidCastException($"{ul} does not fit a signed 64-bit integer."),
        long l => l,
        bool bo => bo ? 1 : 0,
        _ => throw new InvalidCastException($"A {Type} value is not an integer."),
    };

    /// <summary>Like <see cref="AsInt64"/>, but a uint64 above long.MaxValue wraps instead of throwing.</summary>
    public long AsInt64Unchecked() => Value is ulong ul ? unchecked((long)ul) : AsInt64();

    public double AsDouble() => Value switch
    {
        float f => f,
        double d => d,
        ulong ul => ul, // every uint64 has a double, if a rounded one
        _ when IsInteger => AsInt64(),
        _ => throw new InvalidCastException($"A {Type} value is not a number."),
    };

    /// <summary>The value as gguf-dump would print it (arrays abbreviated).</summary>
    public string Format(int maxElements = 8)
    {
        switch (Value)
        {
            case string s:
                return Quote(s, 80);
            case float f:
                return f.ToString("R", CultureInfo.InvariantCulture);
            case double d:
                return d.ToString("R", CultureInfo.InvariantCulture);
            case bool b:
                return b ? "true" : "false";
            case Array a:
                var parts = new List<string>();
                for (int i = 0; i < Math.Min(a.Length, maxElements); i++)
                {
                    object? e = a.GetValue(i);
                    parts.Add(e switch
                    {
                        GgufValue v => v.Format(maxElements),
                        string s => Quote(s, 30),
                        float f => f.ToString("R", CultureInfo.InvariantCulture),
                        double d => d.ToString("R", CultureInfo.InvariantCulture),
                        bool b => b ? "true" : "false",
                        _ => Convert.ToString(e, CultureInfo.InvariantCulture) ?? "",
                    });
                }
                string more = a.Length > maxElements ? $", ... ({a.Length} elements)" : "";
                return "[" + string.Join(", ", parts) + more + "]";
            default:
                return Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "";
        }
    }

    private static string Quote(string s, int max)
    {
        string shown = s.Length > max ? s[..max] + "…" : s;
        return "\"" + shown.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t").Replace("\"", "\\\"") + "\"";
    }

    public override string ToString() => Format();
}
