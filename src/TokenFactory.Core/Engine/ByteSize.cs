using System.Globalization;

namespace TokenFactory.Engine;

/// <summary>
/// Parses and prints memory sizes such as <c>512MiB</c>, <c>2G</c>, <c>1.5 GiB</c>, <c>800MB</c> or <c>1048576</c>.
/// Binary units (KiB, MiB, GiB, TiB) and bare letters (K, M, G, T) are powers of 1024, as in llama.cpp and
/// Docker; KB, MB, GB, TB are powers of 1000. A plain number is bytes.
/// </summary>
public static class ByteSize
{
    public static long Parse(string text)
    {
        if (!TryParse(text, out long bytes))
            throw new FormatException($"'{text}' is not a size: use a number of bytes or a unit, e.g. 512MiB, 2GiB, 800MB.");
        return bytes;
    }

    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        var s = text.Trim();
        int split = 0;
        while (split < s.Length && (char.IsAsciiDigit(s[split]) || s[split] == '.'))
            split++;
        if (!double.TryParse(s.AsSpan(0, split), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            return false;
        double? scale = s[split..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KIB" => 1L << 10,
            "M" or "MIB" => 1L << 20,
            "G" or "GIB" => 1L << 30,
            "T" or "TIB" => 1L << 40,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => null,
        };
        if (scale == null || number * scale.Value >= long.MaxValue)
            return false;
        bytes = (long)(number * scale.Value);
        return true;
    }

    /// <summary>Short binary form: 512 MiB, 1.5 GiB.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.##} {units[u]}");
    }
}
