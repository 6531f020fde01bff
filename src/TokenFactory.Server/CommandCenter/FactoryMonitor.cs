using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TokenFactory.Engine;
using TokenFactory.Floor;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// Takes one <see cref="FactorySample"/> a second from the recorder (what settled), the source (what runs now) and
/// the energy meter, keeps it in the <see cref="SampleRing"/>, and wakes the page's event streams.
/// </summary>
public sealed class FactoryMonitor : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly FactoryRecorder _recorder;
    private readonly IFactorySource _source;
    private readonly FloorService _floor;
    private readonly IClassTargets _classes;
    private readonly TimeProvider _time;
    private readonly ILogger<FactoryMonitor> _logger;
    private readonly Dictionary<string, EngineCounters> _previousCounters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (double Joules, bool Estimated)> _previousEnergy = new(StringComparer.Ordinal);
    private long _previousTick;
    private double? _previousJoules;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private FactoryTotals _totals = new();

    public FactoryMonitor(FactoryRecorder recorder, IFactorySource source, FloorService floor, IClassTargets classes, TimeProvider time, ILogger<FactoryMonitor> logger)
    {
        _logger = logger;
        _recorder = recorder;
        _source = source;
        _floor = floor;
        _classes = classes;
        _time = time;
        _previousTick = time.GetTimestamp();
        _previousJoules = EnergyReadings.TryRead(floor.EnergyMeter);
        floor.Settled += (record, priority) => recorder.Settled(record, priority, classes.Targets.FirstOrDefault(c => c.Name == priority));
    }

    public SampleRing Ring { get; } = new();

    public string Mode => _source.Mode;

    public IReadOnlyList<ClassTarget> Classes => _classes.Targets;

    /// <summary>Since this process started: requests run, their tokens, cost and energy (the ledger lines it settled).</summary>
    public FactoryTotals Totals => Volatile.Read(ref _totals);

    /// <summary>The replicas as of the last sample.</summary>
    public IReadOnlyList<FactoryReplica> Replicas { get; private set; } = [];

    public IReadOnlyList<FactoryModel> Models() => _source.Models();

    /// <summary>What measures power: this process's meter for a single server; the replicas' own meters behind a router.</summary>
    public (string Source, bool Estimated) Power => MeasuresOwnPower
        ? (_floor.EnergyMeter!.Source, _floor.EnergyMeter.IsEstimated)
        : _source.Mode == "route" ? ("replicas", Ring.Latest?.PowerEstimated ?? false) : ("none", false);

    private bool MeasuresOwnPower => _floor.EnergyMeter is not null && _source.Mode == "serve";

    /// <summary>Completes when the next sample is in.</summary>
    public Task NextSampleAsync(CancellationToken cancellation) => Volatile.Read(ref _next).Task.WaitAsync(cancellation);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        try
        {
            TrySample(); // a page opened right after start-up sees the replicas at once, not after a second
            while (await timer.WaitForNextTickAsync(stoppingToken))
                TrySample();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A failed sample (a meter that cannot be read, a replica reporting nonsense) is logged and skipped: the page must never take the server down.</summary>
    private void TrySample()
    {
        try
        {
            Sample();
        }
        catch (Exception e)
        {
            FactoryLog.SampleFailed(_logger, e);
        }
    }

    /// <summary>Takes a sample now: the timer's work, once a second (tests call it with a fake clock and no timer).</summary>
    internal FactorySample Sample()
    {
        long tick = _time.GetTimestamp();
        double dt = Math.Max(1e-3, _time.GetElapsedTime(_previousTick, tick).TotalSeconds);
        _previousTick = tick;
        var interval = _recorder.Take();
        var replicas = _source.Replicas();

        double busy = 0, steps = 0, sequences = 0, queried = 0, hits = 0;
        var replicaSamples = new Dictionary<string, ReplicaSample>(StringComparer.Ordinal);
        foreach (var r in replicas)
        {
            double? replicaBusy = null; // unknown until a replica's counters have been read twice
            if (r.Counters is { } now)
            {
                bool seen = _previousCounters.TryGetValue(r.Id, out var before);
                _previousCounters[r.Id] = now;
                if (!seen)
                    before = now;
                else if (now.Steps < before.Steps || now.BusySeconds < before.BusySeconds || now.PrefixCacheQueryTokens < before.PrefixCacheQueryTokens)
                    before = default; // it restarted: its counters began again from zero
                if (seen)
                    replicaBusy = now.BusySeconds - before.BusySeconds;
                busy += now.BusySeconds - before.BusySeconds;
                steps += now.Steps - before.Steps;
                sequences += now.ScheduledSequences - before.ScheduledSequences;
                queried += now.PrefixCacheQueryTokens - before.PrefixCacheQueryTokens;
                hits += now.PrefixCacheHitTokens - before.PrefixCacheHitTokens;
            }
            replicaSamples[r.Id] = new ReplicaSample
            {
                Healthy = r.Healthy,
                OutputTps = interval.CompletionByReplica.GetValueOrDefault(r.Id) / dt,
                Running = r.Running,
                Waiting = r.Waiting,
                Utilization = replicaBusy is { } b ? Math.Clamp(b / dt, 0, 1) : null,
            };
        }
        int engines = Math.Max(1, replicas.Count(r => r.Counters is not null));
        var (power, estimated) = PowerOver(dt, replicas);

        var totals = _floor.Totals;
        var t = Totals;
        Volatile.Write(ref _totals, t with
        {
            Requests = t.Requests + interval.Requests,
            PromptTokens = t.PromptTokens + interval.PromptTokens,
            CompletionTokens = t.CompletionTokens + interval.CompletionTokens,
            Usd = t.Usd + interval.InputUsd + interval.OutputUsd,
            EnergyJoules = t.EnergyJoules + interval.EnergyJoules,
        });
        long used = replicas.Sum(r => r.KvUsedTokens), capacity = replicas.Sum(r => r.KvCapacityTokens);
        var sample = new FactorySample
        {
            T = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            SpanS = 1,
            Requests = interval.Requests,
            Refusals = interval.Refusals,
            PromptTokens = interval.PromptTokens,
            CompletionTokens = interval.CompletionTokens,
            InputTps = interval.PromptTokens / dt,
            OutputTps = interval.CompletionTokens / dt,
            RequestsPs = interval.Requests / dt,
            RefusalsPs = interval.Refusals / dt,
            Running = replicas.Sum(r => r.Running),
            Waiting = replicas.Sum(r => r.Waiting),
            Queued = _source.Queued,
            KvUsedTokens = used,
            KvCapacityTokens = capacity,
            KvUsage = capacity > 0 ? (double)used / capacity : 0,
            KvBytes = replicas.Sum(r => (double)r.KvUsedTokens * r.KvBytesPerToken),
            StateBytes = replicas.Sum(r => (double)r.Running * r.StateBytesPerSequence),
            BatchMean = steps > 0 ? sequences / steps : 0,
            PrefixHitRate = queried > 0 ? hits / queried : 0,
            Utilization = Math.Clamp(busy / dt / engines, 0, 1),
            PowerW = power,
            PowerEstimated = estimated,
            JoulesPerToken = totals.JoulesPerToken,
            UsdPerMInput = totals.UsdPerMillionInputTokens,
            UsdPerMOutput = totals.UsdPerMillionOutputTokens,
            Ttft = Percentiles.Of(interval.Ttft.Values),
            Tpot = Percentiles.Of(interval.Tpot.Values),
            Itl = Percentiles.Of(interval.Itl.Values),
            Slo = interval.Slo,
            Replicas = replicaSamples,
        };
        Replicas = replicas;
        Ring.Add(sample, interval);
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return sample;
    }

    /// <summary>
    /// Watts over the interval: this process's energy meter where it has one (a single server), else the sum of
    /// the replicas' own meters as they report them (a router); null when nothing measures or estimates it.
    /// </summary>
    private (double? Watts, bool Estimated) PowerOver(double dt, IReadOnlyList<FactoryReplica> replicas)
    {
        if (MeasuresOwnPower && _floor.EnergyMeter is { } meter)
        {
            double? joules = EnergyReadings.TryRead(meter);
            double? watts = _previousJoules is { } before && joules is { } now ? Math.Max(0, now - before) / dt : null;
            _previousJoules = joules;
            return (watts, meter.IsEstimated);
        }
        // Replicas on one machine each read that machine's meter: count a machine once (its highest reading).
        var byHost = new Dictionary<string, double>(StringComparer.Ordinal);
        bool estimated = false;
        foreach (var r in replicas)
        {
            if (r.EnergyJoules is not { } joules)
                continue;
            if (_previousEnergy.TryGetValue(r.Id, out var before) && joules >= before.Joules)
            {
                string host = r.Host ?? r.Id;
                byHost[host] = Math.Max(byHost.GetValueOrDefault(host), (joules - before.Joules) / dt);
                estimated |= r.EnergyEstimated;
            }
            _previousEnergy[r.Id] = (joules, r.EnergyEstimated);
        }
        return (byHost.Count > 0 ? byHost.Values.Sum() : null, estimated);
    }
}

/// <summary>What this process settled since it started.</summary>
public sealed record FactoryTotals
{
    public long Requests { get; init; }
    public long PromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public double Usd { get; init; }
    public double EnergyJoules { get; init; }
}

internal static partial class FactoryLog
{
    [LoggerMessage(400, LogLevel.Warning, "The command center could not take a sample; it tries again in a second")]
    public static partial void SampleFailed(ILogger logger, Exception e);
}
