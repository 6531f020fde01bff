using System.Globalization;
using TokenFactory.Floor;
using TokenFactory.Floor.Energy;
using TokenFactory.Floor.Pricing;

namespace TokenFactory.Floor.Tests.Energy;

/// <summary>RAPL counters (on a sysfs-shaped folder the test writes), the estimate, meter selection and prices.</summary>
public sealed class EnergyMeterTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", "powercap-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    private void Zone(string name, long microjoules, long range = 262_143_328_850)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "energy_uj"), microjoules.ToString(CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(dir, "max_energy_range_uj"), range.ToString(CultureInfo.InvariantCulture) + "\n");
    }

    [Fact]
    public void Rapl_sums_packages_skips_sub_zones_and_survives_wraparound()
    {
        Zone("intel-rapl:0", 1_900_000, range: 2_000_000);
        Zone("intel-rapl:0:0", 5_000_000); // cores of package 0: already inside it
        Zone("intel-rapl:1", 10_000_000);
        Directory.CreateDirectory(Path.Combine(_root, "intel-rapl-mmio:0")); // not a package counter
        using var meter = RaplEnergyMeter.TryOpen(_root);
        Assert.NotNull(meter);
        Assert.Equal(2, meter.ZoneCount);
        Assert.False(meter.IsEstimated);
        Assert.Equal(0, meter.ReadJoules());

        Zone("intel-rapl:0", 100_000, range: 2_000_000); // wrapped: +0.2 J
        Zone("intel-rapl:0:0", 9_000_000);
        Zone("intel-rapl:1", 13_000_000); // +3 J
        Assert.Equal(3.2, meter.ReadJoules(), 9);
        Zone("intel-rapl:0", 600_000, range: 2_000_000); // +0.5 J
        Assert.Equal(3.7, meter.ReadJoules(), 9);
    }

    [Fact]
    public void Without_readable_counters_auto_falls_back_to_an_estimate_and_asking_for_rapl_is_an_error()
    {
        var options = new EnergyOptions { PowercapRoot = _root, EstimatedWatts = 200 };
        Assert.Null(RaplEnergyMeter.TryOpen(_root));
        var error = Assert.Throws<TokenFactoryException>(() => EnergyMeters.Create(new EnergyOptions { Meter = "rapl", PowercapRoot = _root }, 0, TimeProvider.System));
        Assert.Contains(_root, error.Message);
        Assert.Throws<TokenFactoryException>(() => EnergyMeters.Create(new EnergyOptions { Meter = "solar" }, 0, TimeProvider.System));
        Assert.Null(EnergyMeters.Create(new EnergyOptions { Meter = "none" }, 0, TimeProvider.System));
        var auto = EnergyMeters.Create(options, 0, TimeProvider.System)!;
        if (NvmlEnergyMeter.TryOpen() is null) // a GPU machine would measure instead
        {
            Assert.True(auto.IsEstimated);
            Assert.Equal("estimated", auto.Source);
        }

        Zone("intel-rapl:0", 42);
        var rapl = EnergyMeters.Create(options, 0, TimeProvider.System)!;
        Assert.False(rapl.IsEstimated);
        Assert.Contains("rapl", rapl.Source);
    }

    private sealed class ManualTime : TimeProvider
    {
        public long Ticks { get; set; }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
    }

    [Fact]
    public void The_estimate_is_watts_times_utilization_times_time()
    {
        var time = new ManualTime();
        var meter = new EstimatedEnergyMeter(fullLoadWatts: 120, utilization: 0.5, time);
        Assert.Equal(0, meter.ReadJoules());
        time.Ticks += TimeSpan.TicksPerSecond * 10;
        Assert.Equal(600, meter.ReadJoules(), 9);
        // Half the cores: half the machine's power.
        var threads = (EstimatedEnergyMeter)EnergyMeters.Create(new EnergyOptions { Meter = "estimated", EstimatedWatts = 100 }, Math.Max(1, Environment.ProcessorCount / 2), time)!;
        Assert.Equal(100.0 * Math.Max(1, Environment.ProcessorCount / 2) / Environment.ProcessorCount, threads.Watts, 9);
    }

    [Fact]
    public void Cost_is_machine_time_plus_energy_or_list_prices()
    {
        var pricing = new PricingOptions { MachineUsdPerHour = 7.2, UsdPerKwh = 0.2, Pue = 1.5 };
        pricing.Models["listed"] = new ModelPrice { InputUsdPerMillion = 3, OutputUsdPerMillion = 15, CachedInputUsdPerMillion = 0.3 };
        var cost = new CostCalculator(pricing);
        // 10 s of prompt work and 3.6 MJ (1 kWh) of generation.
        var work = new TokenFactory.Engine.WorkShare(PrefillSeconds: 10, DecodeSeconds: 0, PrefillJoules: 0, DecodeJoules: 3.6e6);
        var (input, output) = cost.Cost("measured", 100, 0, 10, work);
        Assert.Equal(10 * 7.2 / 3600, input, 12);
        Assert.Equal(0.2 * 1.5, output, 12);
        (input, output) = cost.Cost("listed", 1_000_000, 400_000, 2_000_000, work);
        Assert.Equal(600_000 * 3e-6 + 400_000 * 0.3e-6, input, 9);
        Assert.Equal(30, output, 9);
        Assert.Equal((1000 * 3 + 500 * 15) / 1e6, cost.WorstCase("listed", 1000, 500), 12);
        Assert.Equal(1500 * pricing.ReserveUsdPerMillionTokens / 1e6, cost.WorstCase("measured", 1000, 500), 12);
    }
}
