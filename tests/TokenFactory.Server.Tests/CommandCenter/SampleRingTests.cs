using TokenFactory.Floor.Ledger;
using TokenFactory.Server.CommandCenter;

namespace TokenFactory.Server.Tests.CommandCenter;

public sealed class SampleRingTests
{
    private static FactoryInterval Interval(params double[] ttft)
    {
        var interval = new FactoryInterval();
        interval.Ttft.AddRange([.. ttft]);
        return interval;
    }

    private static FactorySample Second(double t, double output, int running, double? power = null, long requests = 0, long met = 0) => new()
    {
        T = t,
        SpanS = 1,
        OutputTps = output,
        Running = running,
        PowerW = power,
        Slo = requests == 0 ? [] : new() { ["interactive"] = new SloCount { Requests = requests, Met = met, MetTtft = met, MetTpot = requests } },
    };

    [Fact]
    public void A_minute_holds_its_seconds_means_and_the_percentiles_of_all_its_requests()
    {
        var ring = new SampleRing();
        const double start = 1_800_000_000; // a whole minute (divisible by 60)
        // First minute: 60 seconds; in the first 59 one fast request each, in the last one 41 slow ones.
        for (int i = 1; i <= 60; i++)
        {
            var observations = i < 60 ? Interval(0.1) : Interval([.. Enumerable.Repeat(5.0, 41)]);
            ring.Add(Second(start + i, output: i, running: i % 2, power: i <= 30 ? 100 : null, requests: 2, met: 1), observations);
        }
        ring.Add(Second(start + 61, 0, 0), Interval()); // the next minute's first second closes the first
        var minute = Assert.Single(ring.Since(0, minutes: true));
        Assert.Equal(start + 60, minute.T);
        Assert.Equal(60, minute.SpanS);
        Assert.Equal(30.5, minute.OutputTps, 9);
        Assert.Equal(0.5, minute.Running, 9);
        Assert.Equal(100, minute.PowerW); // the mean of the seconds that had a reading
        // 59 fast and 41 slow requests: the median is fast, p90 slow. A mean of per-second medians would say 0.18.
        Assert.Equal(new Percentiles(0.1, 5.0, 5.0), minute.Ttft);
        Assert.Equal(120, minute.Slo["interactive"].Requests);
        Assert.Equal(60, minute.Slo["interactive"].Met);
        Assert.Equal(61, ring.Since(0, minutes: false).Count);
        Assert.Equal(2, ring.Since(start + 59, minutes: false).Count);
    }

    [Fact]
    public void The_rings_are_bounded_and_keep_the_newest()
    {
        var ring = new SampleRing();
        int seconds = SampleRing.SecondCapacity + 500;
        for (int i = 1; i <= seconds; i++)
            ring.Add(Second(i, i, 0), Interval());
        var kept = ring.Since(0, minutes: false);
        Assert.Equal(SampleRing.SecondCapacity, kept.Count);
        Assert.Equal(seconds, kept[^1].T);
        Assert.Equal(seconds - SampleRing.SecondCapacity + 1, kept[0].T);
        Assert.Equal(seconds / 60, ring.Since(0, minutes: true).Count);
    }

    [Fact]
    public void A_full_reservoir_keeps_a_uniform_sample_of_everything_offered()
    {
        var reservoir = new Reservoir(1000);
        for (int i = 0; i < 100_000; i++)
            reservoir.Add(i < 50_000 ? 1.0 : 2.0); // the first half fast, the second slow
        Assert.Equal(1000, reservoir.Values.Count);
        Assert.Equal(100_000, reservoir.Seen);
        // Keeping the first 1,000 would say everything was fast; a uniform sample holds about half of each.
        Assert.InRange(reservoir.Values.Count(v => v == 2.0), 400, 600);
    }

    [Fact]
    public void Percentiles_are_nearest_rank()
    {
        Assert.Null(Percentiles.Of([]));
        Assert.Equal(new Percentiles(7, 7, 7), Percentiles.Of([7]));
        Assert.Equal(new Percentiles(50, 90, 99), Percentiles.Of([.. Enumerable.Range(1, 100).Select(i => (double)(101 - i))]));
    }
}

public sealed class FactoryRecorderTests
{
    private static UsageRecord Line(int status, long completion, double ttft, double duration, string? replica = null) => new()
    {
        RequestId = Guid.NewGuid().ToString("N"), Time = DateTimeOffset.UnixEpoch, Model = "m", Endpoint = "/v1/chat/completions", Status = status,
        PromptTokens = 10, CompletionTokens = completion, TimeToFirstTokenSeconds = ttft, DurationSeconds = duration, InputCostUsd = 0.001, OutputCostUsd = 0.002,
        EnergyJoules = 3, Replica = replica,
    };

    [Fact]
    public void Each_class_counts_the_requests_that_met_its_first_token_and_per_token_targets()
    {
        var recorder = new FactoryRecorder();
        var interactive = ClassTarget.Defaults[0]; // 2 s to the first token, 0.2 s per token after it
        recorder.Settled(Line(200, 11, 1.0, 2.0), "interactive", interactive);   // tpot 0.1: met
        recorder.Settled(Line(200, 11, 3.0, 4.0), "interactive", interactive);   // first token late
        recorder.Settled(Line(200, 11, 1.0, 4.0), "interactive", interactive);   // tpot 0.3: too slow
        recorder.Settled(Line(500, 0, 0, 0.1), "interactive", interactive);      // failed: met nothing
        recorder.Settled(Line(200, 1, 0.5, 0.5, "r1"), "interactive", interactive); // one token: no tpot to miss
        recorder.Refused();
        recorder.Refused();
        recorder.Refused();
        var interval = recorder.Take();
        var slo = interval.Slo["interactive"];
        Assert.Equal((5, 3, 3, 2), (slo.Requests, slo.MetTtft, slo.MetTpot, slo.Met));
        Assert.Equal(5, interval.Requests);
        Assert.Equal(50, interval.PromptTokens);
        Assert.Equal(34, interval.CompletionTokens);
        Assert.Equal(15, interval.EnergyJoules, 9);
        Assert.Equal([1.0, 3.0, 1.0, 0.5], interval.Ttft.Values); // the failed request produced no first token
        Assert.Equal([0.1, 0.1, 0.3], interval.Tpot.Values.Select(t => Math.Round(t, 9)));
        Assert.Equal(3, interval.Refusals);
        Assert.Equal(1, interval.CompletionByReplica["r1"]);
        Assert.Equal(33, interval.CompletionByReplica[FactoryReplicaIds.Local]);
        Assert.Equal(0, recorder.Take().Requests); // taking starts a new interval
    }
}
