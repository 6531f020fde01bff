namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// The command center's memory: one-second samples for the last hour and one-minute samples for the last day, each
/// in a fixed ring (5,040 samples at most, whatever the traffic). A minute's percentiles are computed from
/// its requests' own observations, not averaged from its seconds' percentiles. One writer (the monitor), many readers.
/// </summary>
public sealed class SampleRing
{
    public const int SecondCapacity = 3600;
    public const int MinuteCapacity = 1440;

    private readonly Lock _lock = new();
    private readonly FactorySample?[] _seconds = new FactorySample?[SecondCapacity];
    private readonly FactorySample?[] _minutes = new FactorySample?[MinuteCapacity];
    private int _secondCount, _secondNext, _minuteCount, _minuteNext;
    private readonly List<FactorySample> _minuteSeconds = new(60);
    // A minute's percentiles: a uniform sample of its seconds' samples (a second that kept fewer than it saw counts a little less).
    private readonly Reservoir _minuteTtft = new(MinuteObservations), _minuteTpot = new(MinuteObservations), _minuteItl = new(MinuteObservations);

    private const int MinuteObservations = 6 * FactoryRecorder.MaxObservations;
    private long _currentMinute = -1;

    public FactorySample? Latest { get; private set; }

    /// <summary>Adds a second's sample with the observations behind its percentiles (the ring keeps them until its minute ends).</summary>
    internal void Add(FactorySample sample, FactoryInterval interval)
    {
        long minute = (long)Math.Floor((sample.T - 1e-6) / 60);
        lock (_lock)
        {
            if (_currentMinute >= 0 && minute != _currentMinute && _minuteSeconds.Count > 0)
                CloseMinute();
            _currentMinute = minute;
            Put(_seconds, ref _secondNext, ref _secondCount, sample);
            _minuteSeconds.Add(sample);
            _minuteTtft.AddRange(interval.Ttft.Values);
            _minuteTpot.AddRange(interval.Tpot.Values);
            _minuteItl.AddRange(interval.Itl.Values);
            Latest = sample;
        }
    }

    /// <summary>Samples whose interval ended after <paramref name="since"/> (Unix seconds), oldest first: seconds for an hour or less, else minutes.</summary>
    public List<FactorySample> Since(double since, bool minutes)
    {
        lock (_lock)
        {
            var ring = minutes ? _minutes : _seconds;
            int count = minutes ? _minuteCount : _secondCount, next = minutes ? _minuteNext : _secondNext;
            var result = new List<FactorySample>(count);
            for (int k = 0; k < count; k++)
            {
                var s = ring[(next - count + k + ring.Length) % ring.Length]!;
                if (s.T > since)
                    result.Add(s);
            }
            return result;
        }
    }

    private void CloseMinute()
    {
        var secs = _minuteSeconds;
        double Mean(Func<FactorySample, double> f) => secs.Average(f);
        var slo = new Dictionary<string, SloCount>(StringComparer.Ordinal);
        foreach (var s in secs)
            foreach (var (name, count) in s.Slo)
                (slo.TryGetValue(name, out var sum) ? sum : slo[name] = new SloCount()).Add(count);
        var replicas = secs.SelectMany(s => s.Replicas).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => new ReplicaSample
        {
            Healthy = g.Last().Value.Healthy,
            OutputTps = g.Sum(kv => kv.Value.OutputTps) / secs.Count,
            Running = g.Average(kv => kv.Value.Running),
            Waiting = g.Average(kv => kv.Value.Waiting),
            Utilization = g.Any(kv => kv.Value.Utilization is not null) ? g.Where(kv => kv.Value.Utilization is not null).Average(kv => kv.Value.Utilization!.Value) : null,
        });
        var powers = secs.Where(s => s.PowerW is not null).ToList();
        var last = secs[^1];
        var minute = new FactorySample
        {
            T = (_currentMinute + 1) * 60.0,
            SpanS = 60,
            Requests = secs.Sum(s => s.Requests),
            Refusals = secs.Sum(s => s.Refusals),
            PromptTokens = secs.Sum(s => s.PromptTokens),
            CompletionTokens = secs.Sum(s => s.CompletionTokens),
            InputTps = Mean(s => s.InputTps),
            OutputTps = Mean(s => s.OutputTps),
            RequestsPs = Mean(s => s.RequestsPs),
            RefusalsPs = Mean(s => s.RefusalsPs),
            Running = Mean(s => s.Running),
            Waiting = Mean(s => s.Waiting),
            Queued = Mean(s => s.Queued),
            KvUsedTokens = Mean(s => s.KvUsedTokens),
            KvCapacityTokens = last.KvCapacityTokens,
            KvUsage = Mean(s => s.KvUsage),
            KvBytes = Mean(s => s.KvBytes),
            StateBytes = Mean(s => s.StateBytes),
            BatchMean = Mean(s => s.BatchMean),
            PrefixHitRate = Mean(s => s.PrefixHitRate),
            Utilization = Mean(s => s.Utilization),
            PowerW = powers.Count == 0 ? null : powers.Average(s => s.PowerW!.Value),
            PowerEstimated = last.PowerEstimated,
            JoulesPerToken = last.JoulesPerToken,
            UsdPerMInput = last.UsdPerMInput,
            UsdPerMOutput = last.UsdPerMOutput,
            Ttft = Percentiles.Of(_minuteTtft.Values),
            Tpot = Percentiles.Of(_minuteTpot.Values),
            Itl = Percentiles.Of(_minuteItl.Values),
            Slo = slo,
            Replicas = replicas,
        };
        Put(_minutes, ref _minuteNext, ref _minuteCount, minute);
        secs.Clear();
        _minuteTtft.Clear();
        _minuteTpot.Clear();
        _minuteItl.Clear();
    }

    private static void Put(FactorySample?[] ring, ref int next, ref int count, FactorySample sample)
    {
        ring[next] = sample;
        next = (next + 1) % ring.Length;
        count = Math.Min(count + 1, ring.Length);
    }
}
