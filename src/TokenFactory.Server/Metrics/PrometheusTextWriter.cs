using System.Globalization;
using System.Text;

namespace TokenFactory.Server.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): HELP and TYPE once per family, then
/// its samples; histograms as cumulative <c>_bucket{le=…}</c> ending in <c>+Inf</c>, <c>_sum</c>, <c>_count</c>.
/// </summary>
public sealed class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _text = new();

    public void Counter(LabeledCounter counter)
    {
        Header(counter.Name, counter.Help, "counter");
        bool any = false;
        foreach (var (values, value) in counter.Snapshot())
        {
            Sample(counter.Name, counter.Labels, values, value);
            any = true;
        }
        // A family with no series yet still says 0 when it has no labels, so dashboards see it exists.
        if (!any && counter.Labels.Count == 0)
            Sample(counter.Name, [], [], 0);
    }

    /// <summary>A counter whose value another component keeps (e.g. the engine's cumulative counters).</summary>
    public void CounterValue(string name, string help, double value)
    {
        Header(name, help, "counter");
        Sample(name, [], [], value);
    }

    /// <summary>A counter family with one label whose series another component keeps.</summary>
    public void CounterValues(string name, string help, string label, IEnumerable<KeyValuePair<string, double>> series)
    {
        Header(name, help, "counter");
        foreach (var (value, sample) in series.OrderBy(p => p.Key, StringComparer.Ordinal))
            Sample(name, [label], [value], sample);
    }

    public void Gauge(string name, string help, double value)
    {
        Header(name, help, "gauge");
        Sample(name, [], [], value);
    }

    public void Histogram(Histogram histogram)
    {
        Header(histogram.Name, histogram.Help, "histogram");
        var (cumulative, sum, count) = histogram.Snapshot();
        for (int i = 0; i < histogram.Bounds.Count; i++)
            Sample(histogram.Name + "_bucket", ["le"], [Number(histogram.Bounds[i])], cumulative[i]);
        Sample(histogram.Name + "_bucket", ["le"], ["+Inf"], count);
        Sample(histogram.Name + "_sum", [], [], sum);
        Sample(histogram.Name + "_count", [], [], count);
    }

    public override string ToString() => _text.ToString();

    private void Header(string name, string help, string type)
    {
        _text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    private void Sample(string name, IReadOnlyList<string> labels, IReadOnlyList<string> values, double value)
    {
        _text.Append(name);
        if (labels.Count > 0)
        {
            _text.Append('{');
            for (int i = 0; i < labels.Count; i++)
            {
                if (i > 0)
                    _text.Append(',');
                _text.Append(labels[i]).Append("=\"").Append(EscapeLabel(values[i])).Append('"');
            }
            _text.Append('}');
        }
        _text.Append(' ').Append(Number(value)).Append('\n');
    }

    internal static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static string EscapeLabel(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string EscapeHelp(string value) => value.Replace("\\", "\\\\").Replace("\n", "\\n");
}
