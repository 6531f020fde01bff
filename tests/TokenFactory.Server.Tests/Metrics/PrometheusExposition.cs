using System.Globalization;
using System.Text.RegularExpressions;

namespace TokenFactory.Server.Tests.Metrics;

/// <summary>
/// A strict reader of the Prometheus text exposition format (0.0.4), enough to reject what a scraper would:
/// bad metric or label names, bad escapes, samples without HELP/TYPE, duplicate families or series,
/// non-cumulative histogram buckets, and a +Inf bucket that differs from _count.
/// </summary>
public static partial class PrometheusExposition
{
    public sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    public sealed record Family(string Name, string Type, string Help, List<Sample> Samples);

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)( (?<ts>-?\d+))?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"\G(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\\n]|\\\\|\\""|\\n)*)""(,|$)")]
    private static partial Regex LabelPair();

    public static Dictionary<string, Family> Parse(string text)
    {
        Assert.EndsWith("\n", text);
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var seriesSeen = new HashSet<string>(StringComparer.Ordinal);
        // HELP and TYPE may come in either order (OpenTelemetry's exporter writes TYPE first), each once per family.
        var helps = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text[..^1].Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ', 2);
                Assert.Matches(MetricName(), parts[0]);
                Assert.True(helps.TryAdd(parts[0], parts.Length > 1 ? parts[1] : ""), $"HELP for {parts[0]} twice");
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line[7..].Split(' ');
                Assert.Equal(2, parts.Length);
                Assert.Matches(MetricName(), parts[0]);
                Assert.Contains(parts[1], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                Assert.True(families.TryAdd(parts[0], new Family(parts[0], parts[1], "", [])), $"family {parts[0]} declared twice");
                continue;
            }
            Assert.False(line.StartsWith('#'), $"unexpected comment: {line}");
            Assert.False(string.IsNullOrWhiteSpace(line), "blank line inside the exposition");
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            string name = m.Groups["name"].Value;
            var labels = ParseLabels(m.Groups["labels"].Value, line);
            double value = ParseValue(m.Groups["value"].Value, line);
            var family = FamilyOf(families, name) ?? throw new Xunit.Sdk.XunitException($"sample {name} has no TYPE line before it");
            Assert.True(seriesSeen.Add(name + "{" + string.Join(",", labels.OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}")) + "}"), $"duplicate series: {line}");
            family.Samples.Add(new Sample(name, labels, value));
        }
        foreach (var f in families.Values)
            Validate(f);
        Assert.All(families.Keys, name => Assert.True(helps.ContainsKey(name), $"{name} has no HELP"));
        return families.ToDictionary(kv => kv.Key, kv => kv.Value with { Help = helps[kv.Key] }, StringComparer.Ordinal);
    }

    private static Family? FamilyOf(Dictionary<string, Family> families, string sample)
    {
        if (families.TryGetValue(sample, out var f))
            return f.Type is "histogram" or "summary" ? null : f;
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && families.TryGetValue(sample[..^suffix.Length], out var h) && h.Type == "histogram")
                return h;
        return null;
    }

    private static Dictionary<string, string> ParseLabels(string text, string line)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        int at = 0;
        while (at < text.Length)
        {
            var m = LabelPair().Match(text, at);
            Assert.True(m.Success && m.Index == at, $"bad label syntax at {at}: {line}");
            Assert.Matches(LabelName(), m.Groups["name"].Value);
            Assert.False(m.Groups["name"].Value.StartsWith("__", StringComparison.Ordinal), "reserved label name");
            Assert.True(labels.TryAdd(m.Groups["name"].Value, m.Groups["value"].Value), $"duplicate label: {line}");
            at += m.Length;
        }
        return labels;
    }

    private static double ParseValue(string text, string line) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new Xunit.Sdk.XunitException($"bad value: {line}"),
    };

    private static void Validate(Family f)
    {
        if (f.Type == "counter")
            Assert.All(f.Samples, s => Assert.True(s.Value >= 0, $"{s.Name} is negative"));
        if (f.Type != "histogram")
            return;
        var buckets = f.Samples.Where(s => s.Name == f.Name + "_bucket").ToList();
        Assert.NotEmpty(buckets);
        Assert.All(buckets, b => Assert.True(b.Labels.ContainsKey("le"), "bucket without le"));
        var bounds = buckets.Select(b => ParseValue(b.Labels["le"], b.Name)).ToList();
        Assert.Equal(bounds.Order(), bounds);
        Assert.Equal(double.PositiveInfinity, bounds[^1]);
        for (int i = 1; i < buckets.Count; i++)
            Assert.True(buckets[i].Value >= buckets[i - 1].Value, $"{f.Name} buckets are not cumulative");
        var count = Assert.Single(f.Samples, s => s.Name == f.Name + "_count");
        Assert.Single(f.Samples, s => s.Name == f.Name + "_sum");
        Assert.Equal(count.Value, buckets[^1].Value);
    }
}
