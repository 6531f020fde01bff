using System.Globalization;
using System.Net;
using System.Text;

namespace TokenFactory.Planning;

/// <summary>The throughput-vs-interactivity frontier as an SVG line chart: tokens/s per user across, tokens/s per device up, a line per hardware.</summary>
public static class FrontierSvg
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

    public static string Render(string title, IReadOnlyList<(string Label, IReadOnlyList<FrontierPoint> Points)> series)
    {
        const int W = 720, H = 440, L = 70, R = 180, T = 40, B = 50;
        var all = series.SelectMany(s => s.Points).ToList();
        double xMax = Nice(all.Count > 0 ? all.Max(p => p.TokensPerSecondPerUser) : 1);
        double yMax = Nice(all.Count > 0 ? all.Max(p => p.TokensPerSecondPerDevice) : 1);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        double X(double v) => L + v / xMax * (W - L - R);
        double Y(double v) => H - B - v / yMax * (H - T - B);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/><text x=\"{L}\" y=\"22\" font-size=\"14\">{WebUtility.HtmlEncode(title)}</text>");
        for (int i = 0; i <= 5; i++)
        {
            double xv = xMax * i / 5, yv = yMax * i / 5;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(X(xv))}\" y1=\"{T}\" x2=\"{F(X(xv))}\" y2=\"{H - B}\" stroke=\"#eee\"/><text x=\"{F(X(xv))}\" y=\"{H - B + 16}\" text-anchor=\"middle\">{xv:0.#}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" y1=\"{F(Y(yv))}\" x2=\"{W - R}\" y2=\"{F(Y(yv))}\" stroke=\"#eee\"/><text x=\"{L - 6}\" y=\"{F(Y(yv) + 4)}\" text-anchor=\"end\">{yv:0.#}</text>");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 12}\" text-anchor=\"middle\">output tokens/s per user</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(16 {(T + H - B) / 2}) rotate(-90)\" text-anchor=\"middle\">output tokens/s per device</text>");
        for (int s = 0; s < series.Count; s++)
        {
            string color = Colors[s % Colors.Length];
            var points = series[s].Points.OrderBy(p => p.TokensPerSecondPerUser).ToList();
            if (points.Count > 0)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{string.Join(' ', points.Select(p => $"{F(X(p.TokensPerSecondPerUser))},{F(Y(p.TokensPerSecondPerDevice))}"))}\"/>");
                foreach (var p in points)
                    svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(p.TokensPerSecondPerUser))}\" cy=\"{F(Y(p.TokensPerSecondPerDevice))}\" r=\"3\" fill=\"{color}\"><title>TP{p.TensorParallel}{(p.ExpertParallel > 1 ? $"×EP{p.ExpertParallel}" : "")}, {p.Concurrency} in flight</title></circle>");
            }
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{W - R + 12}\" y=\"{T + 18 * s}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{W - R + 30}\" y=\"{T + 18 * s + 11}\">{WebUtility.HtmlEncode(series[s].Label)}</text>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>A round axis maximum at or above <paramref name="v"/> (1, 2 or 5 times a power of ten).</summary>
    private static double Nice(double v)
    {
        if (v <= 0)
            return 1;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (double step in new[] { 1.0, 2, 5, 10 })
        {
            if (step * magnitude >= v)
                return step * magnitude;
        }
        return 10 * magnitude;
    }
}
