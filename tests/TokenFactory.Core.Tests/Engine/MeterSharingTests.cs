using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// Passes that run at once on one machine (a decoder's generation steps and its embedding passes) split the time and energy
/// they overlap in; nothing is lost and nothing is charged twice.
/// </summary>
public sealed class MeterSharingTests
{
    /// <summary>A clock that moves only when told, one tick a second.</summary>
    private sealed class StepClock : TimeProvider
    {
        public long Now;
        public override long TimestampFrequency => 1;
        public override long GetTimestamp() => Now;
    }

    /// <summary>A meter at whatever the test sets, or failing.</summary>
    private sealed class SetMeter : IEnergyMeter
    {
        public double Joules;
        public bool Fails;
        public bool IsEstimated => true;
        public string Source => "test";
        public double ReadJoules() => Fails ? throw new IOException("counter gone") : Joules;
    }

    [Fact]
    public void A_lone_pass_is_charged_its_wall_time_and_the_whole_meter_difference()
    {
        var (clock, meter) = (new StepClock { Now = 100 }, new SetMeter { Joules = 50 });
        var sharing = new MeterSharing(meter, clock);
        var pass = new MeteredPass();
        sharing.Begin(pass);
        (clock.Now, meter.Joules) = (103, 80);
        Assert.Equal((3.0, 30.0), sharing.End(pass));
        // Reused: the next pass starts from nothing.
        sharing.Begin(pass);
        (clock.Now, meter.Joules) = (104, 85);
        Assert.Equal((1.0, 5.0), sharing.End(pass));
    }

    [Fact]
    public void Overlapping_passes_split_the_time_both_ran_and_together_are_charged_exactly_the_machine()
    {
        var (clock, meter) = (new StepClock(), new SetMeter());
        var sharing = new MeterSharing(meter, clock);
        var (step, embedding) = (new MeteredPass(), new MeteredPass());
        sharing.Begin(step);                                  // t 0, 0 J
        (clock.Now, meter.Joules) = (1, 10);
        sharing.Begin(embedding);                             // t 1, 10 J: the step alone so far
        (clock.Now, meter.Joules) = (3, 30);
        var stepShare = sharing.End(step);                    // t 3, 30 J: 2 s and 20 J shared
        (clock.Now, meter.Joules) = (4, 40);
        var embeddingShare = sharing.End(embedding);          // t 4, 40 J: the embedding alone
        Assert.Equal((2.0, 20.0), stepShare);                 // 1 s + 2 s / 2, 10 J + 20 J / 2
        Assert.Equal((2.0, 20.0), embeddingShare);
        Assert.Equal(4.0, stepShare.Seconds + embeddingShare.Seconds); // the machine's 4 s, not 6
        Assert.Equal(40.0, stepShare.Joules + embeddingShare.Joules);  // the meter's 40 J, not 60
    }

    [Fact]
    public void An_interval_whose_reading_failed_charges_no_energy_but_still_its_time()
    {
        var (clock, meter) = (new StepClock(), new SetMeter());
        var sharing = new MeterSharing(meter, clock);
        var (a, b) = (new MeteredPass(), new MeteredPass());
        sharing.Begin(a);
        (clock.Now, meter.Joules, meter.Fails) = (2, 20, true);
        sharing.Begin(b);                                     // this reading fails: the 0-2 interval's energy is unknown
        (clock.Now, meter.Joules, meter.Fails) = (4, 40, false);
        var aShare = sharing.End(a);                          // 2-4 follows a failed reading: unknown too
        (clock.Now, meter.Joules) = (5, 50);
        var bShare = sharing.End(b);
        Assert.Equal((3.0, 0.0), aShare);
        Assert.Equal((2.0, 10.0), bShare);
    }

    [Fact]
    public void A_pass_cannot_be_begun_twice_or_ended_unbegun()
    {
        var sharing = new MeterSharing(null);
        var pass = new MeteredPass();
        Assert.Throws<InvalidOperationException>(() => sharing.End(pass));
        sharing.Begin(pass);
        Assert.Throws<InvalidOperationException>(() => sharing.Begin(pass));
        var (seconds, joules) = sharing.End(pass);
        Assert.True(seconds >= 0);
        Assert.Equal(0, joules); // no meter: time only
    }

    /// <summary>One joule more at every reading.</summary>
    private sealed class OneJoulePerRead : IEnergyMeter
    {
        public int Reads;
        public bool IsEstimated => true;
        public string Source => "test";
        public double ReadJoules() => ++Reads;
    }

    [Fact]
    public void A_generation_step_run_beside_another_pass_is_charged_half_of_what_they_shared()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var meter = new OneJoulePerRead();
        using var core = new EngineCore(model, new EngineOptions { Threads = 1, ContextLength = 256, EnergyMeter = meter });
        // An embedding pass holds the machine across the prompt's one step: readings 1 (its start), 2 and 3 (the step's),
        // 4 (its end). The step's joule between 2 and 3 is split in two; alone it was charged all of it.
        var embedding = new MeteredPass();
        var output = new RecordingOutput();
        core.Metering.Begin(embedding);
        core.Add(core.CreateSequence(EngineTestHelpers.Greedy([1, 20, 30, 40], maxTokens: 1), output, CancellationToken.None));
        while (core.Step())
        {
        }
        var (_, embeddingJoules) = core.Metering.End(embedding);
        Assert.NotNull(output.Summary);
        Assert.Equal(0.5, output.Summary.Work.Joules, 9);
        Assert.Equal(2.5, embeddingJoules, 9); // 1 alone before, half of the shared joule, 1 alone after
        Assert.Equal(4, meter.Reads);
    }
}
