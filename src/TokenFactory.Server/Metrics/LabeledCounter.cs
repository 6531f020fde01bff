using System.Collections.Concurrent;

namespace TokenFactory.Server.Metrics;

/// <summary>A Prometheus counter with one series per label-value combination.</summary>
public sealed class LabeledCounter(string name, string help, params string[] labels)
{
    private readonly ConcurrentDictionary<string, StrongBox> _series = new(StringComparer.Ordinal);

    public string Name { get; } = name;
    public string Help { get; } = help;
    public IReadOnlyList<string> Labels { get; } = labels;

    public void Add(long value, params string[] labelValues)
    {
        if (labelValues.Length != labels.Length)
            throw new ArgumentException($"{Name} takes {labels.Length} label values", nameof(labelValues));
        var box = _series.GetOrAdd(string.Join('\u0001', labelValues), _ => new StrongBox());
        Interlocked.Add(ref box.Value, value);
    }

    public long Get(params string[] labelValues) =>
        _series.TryGetValue(string.Join('\u0001', labelValues), out var box) ? Interlocked.Read(ref box.Value) : 0;

    public IEnumerable<(string[] LabelValues, long Value)> Snapshot() =>
        _series.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (labels.Length == 0 ? [] : kv.Key.Split('\u0001'), Interlocked.Read(ref kv.Value.Value)));

    private sealed class StrongBox
    {
        public long Value;
    }
}
