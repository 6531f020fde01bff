using System.Globalization;
using System.Text;

namespace TokenFactory.Cli.Floor;

/// <summary>Left-aligned text columns with a header line, for the floor commands' default output.</summary>
internal static class TextTable
{
    public static string Render(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows);
        var widths = new int[header.Count];
        foreach (var row in all)
        {
            for (int i = 0; i < header.Count; i++)
                widths[i] = Math.Max(widths[i], row[i].Length);
        }
        var sb = new StringBuilder();
        foreach (var row in all)
        {
            for (int i = 0; i < header.Count; i++)
            {
                if (i > 0)
                    sb.Append("  ");
                sb.Append(i == header.Count - 1 ? row[i] : row[i].PadRight(widths[i]));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static string Number(double v, string format = "0.######") => v.ToString(format, CultureInfo.InvariantCulture);
    public static string Number(long v) => v.ToString(CultureInfo.InvariantCulture);
    public static string Number(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "-";
    public static string Time(DateTimeOffset? t) => t?.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture) ?? "-";
}
