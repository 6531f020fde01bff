using TokenFactory.Planning;

namespace TokenFactory.Planning.Tests;

/// <summary>The search and the sizing: feasibility, targets, demand, power, cost, the budget form and the calibration fit.</summary>
public sealed class PlannerTests
{
    private static PlanRequest Request(string model, string hardware, Precision precision, double? perDay = null, double? tpot = null) => new()
    {
        Model = Catalogs.FindModel(model),
        Hardware = [Catalogs.FindHardware(hardware)],
        Precision = precision,
        InputTokens = 1000,
        OutputTokens = 250,
        OutputTokensPerDay = perDay,
        TpotP99Ms = tpot,
        Scenario = "offline",
    };

    [Fact]
    public void A_model_too_large_for_a_domain_is_infeasible_there_and_fits_a_rack()
    {
        var h100 = Planner.PlanOne(Request("llama-3.1-405b", "h100-sxm", Precision.BF16), Catalogs.FindHardware("h100-sxm"));
        Assert.False(h100.Feasible);
        Assert.Contains("does not fit", h100.Why);
        var nvl72 = Planner.PlanOne(Request("llama-3.1-405b", "gb200-nvl72", Precision.BF16), Catalogs.FindHardware("gb200-nvl72"));
        Assert.True(nvl72.Feasible);
        Assert.True(nvl72.TensorParallel >= 8);
    }

    [Fact]
    public void A_fixed_number_of_devices_is_never_exceeded()
    {
        var hardware = Catalogs.FindHardware("h100-sxm");
        bool spreadsWider = false;
        foreach (double tpot in new[] { 40.0, 20, 12, 8 })
        {
            // Unbounded, a tight per-token target spreads a 70B model over more devices than two.
            var free = Planner.PlanOne(Request("llama-3.1-70b", "h100-sxm", Precision.FP8, tpot: tpot), hardware);
            spreadsWider |= free.Feasible && free.TensorParallel > 2;
            foreach (int devices in new[] { 2, 3 })
            {
                var option = Planner.PlanOne(Request("llama-3.1-70b", "h100-sxm", Precision.FP8, tpot: tpot) with { Devices = devices }, hardware);
                if (option.Feasible)
                {
                    Assert.True(option.Devices <= devices, $"{option.Devices} devices (TP{option.TensorParallel}) for --devices {devices}");
                    Assert.True(option.TensorParallel <= devices);
                }
                else
                    Assert.False(string.IsNullOrEmpty(option.Why));
            }
        }
        Assert.True(spreadsWider, "no target made the unbounded plan use more than two devices; the check above proves nothing");
        // A model too large for the devices given is infeasible, with the reason.
        var tooBig = Planner.PlanOne(Request("llama-3.1-405b", "h100-sxm", Precision.BF16) with { Devices = 2 }, hardware);
        Assert.False(tooBig.Feasible);
        Assert.Contains("does not fit", tooBig.Why);
    }

    [Fact]
    public void Median_targets_are_met_or_the_option_is_infeasible_with_the_reason()
    {
        var hardware = Catalogs.FindHardware("h100-sxm");
        foreach (string scenario in new[] { "offline", "server" })
        {
            var loose = Planner.PlanOne(Request("llama-3.1-70b", "h100-sxm", Precision.FP8) with { Scenario = scenario, TtftP50Ms = 3000, TpotP50Ms = 40 }, hardware);
            Assert.True(loose.Feasible, loose.Why);
            Assert.True(loose.TpotP50Ms <= 40 && loose.TtftP50Ms <= 3000, $"{scenario}: TPOT p50 {loose.TpotP50Ms}, TTFT p50 {loose.TtftP50Ms}");
            // A median target tighter than the loose plan's own median moves the plan (or makes it infeasible).
            double tighter = loose.TpotP50Ms * 0.6;
            var tight = Planner.PlanOne(Request("llama-3.1-70b", "h100-sxm", Precision.FP8) with { Scenario = scenario, TpotP50Ms = tighter }, hardware);
            Assert.True(!tight.Feasible || tight.TpotP50Ms <= tighter, $"{scenario}: TPOT p50 {tight.TpotP50Ms} over {tighter}");
            var impossible = Planner.PlanOne(Request("llama-3.1-70b", "h100-sxm", Precision.FP8) with { Scenario = scenario, TpotP50Ms = 0.1 }, hardware);
            Assert.False(impossible.Feasible);
            Assert.Contains("TPOT p50", impossible.Why);
        }
    }

    [Fact]
    public void Priority_classes_get_their_own_targets_and_outcomes()
    {
        var hardware = Catalogs.FindHardware("h100-sxm");
        var request = Request("llama-3.1-70b", "h100-sxm", Precision.FP8, perDay: 2e9) with
        {
            Scenario = "server",
            Classes = [new PlanClass("interactive", 0.3) { TtftP99Ms = 500, TpotP99Ms = 30 }, new PlanClass("batch", 0.7) { TtftP99Ms = 60_000 }],
        };
        var option = Planner.PlanOne(request, hardware);
        Assert.True(option.Feasible, option.Why);
        Assert.Equal(["interactive", "batch"], option.Classes.Select(c => c.Name));
        var interactive = option.Classes[0];
        Assert.True(interactive.Met && interactive.TtftP99Ms <= 500 && interactive.TpotP99Ms <= 30, $"{interactive}");
        Assert.True(option.Classes.All(c => c.Met));
        // The classes' tokens/s are their shares of the whole deployment's, in proportion to their shares of requests.
        Assert.Equal(option.TokensPerSecond, option.Classes.Sum(c => c.OutputTokensPerSecond), option.TokensPerSecond * 1e-9);
        Assert.InRange(option.Classes[0].OutputTokensPerSecond / option.TokensPerSecond, 0.25, 0.35);
        // A class target nothing meets makes the option infeasible, however loose the others: per token, no batch size meets
        // it; first token, no load does (the per-token target picked the batch, the Poisson runs found no load that meets it).
        var impossible = Planner.PlanOne(request with { Classes = [new PlanClass("interactive", 0.3) { TpotP99Ms = 0.1 }, new PlanClass("batch", 0.7)] }, hardware);
        Assert.False(impossible.Feasible);
        var noLoad = Planner.PlanOne(request with { Classes = [new PlanClass("interactive", 0.3) { TtftP99Ms = 1 }, new PlanClass("batch", 0.7)] }, hardware);
        Assert.False(noLoad.Feasible);
        Assert.Contains("no load meets the targets", noLoad.Why);
        // A tiny class still gets enough simulated requests to be judged.
        var tiny = Planner.PlanOne(request with { Classes = [new PlanClass("interactive", 0.03) { TtftP99Ms = 500 }, new PlanClass("batch", 0.97)] }, hardware);
        Assert.True(tiny.Feasible, tiny.Why);
        Assert.True(tiny.Classes[0].Met);
        Assert.InRange(tiny.Classes[0].SimulatedRequests, 60, 150); // about 100 of the ~3,300 simulated (400 without the rule: ~12)
    }

    [Fact]
    public void A_stricter_per_token_target_costs_throughput_per_device()
    {
        var hardware = Catalogs.FindHardware("h200-sxm");
        var loose = Planner.PlanOne(Request("llama-3.1-70b", "h200-sxm", Precision.FP8, tpot: 200), hardware);
        var tight = Planner.PlanOne(Request("llama-3.1-70b", "h200-sxm", Precision.FP8, tpot: 25), hardware);
        Assert.True(loose.Feasible && tight.Feasible);
        Assert.True(tight.TpotP99Ms <= 25);
        Assert.True(tight.TokensPerSecondPerDevice < loose.TokensPerSecondPerDevice);
        Assert.True(tight.TokensPerSecondPerUser > loose.TokensPerSecondPerUser);
    }

    [Fact]
    public void Twice_the_demand_needs_about_twice_the_devices_power_stays_per_device_and_cost_per_token_holds()
    {
        var hardware = Catalogs.FindHardware("b200");
        var once = Planner.PlanOne(Request("qwen3-30b-a3b", "b200", Precision.FP8, perDay: 2e10), hardware);
        var twice = Planner.PlanOne(Request("qwen3-30b-a3b", "b200", Precision.FP8, perDay: 4e10), hardware);
        Assert.InRange(twice.Devices, 2 * once.Devices - once.TensorParallel, 2 * once.Devices + once.TensorParallel);
        Assert.Equal(2e10 / 86400, once.TokensPerSecond, 1e-6);
        Assert.Equal(once.Devices * hardware.AllInWatts * 1.2 / 1000, once.PowerKw, 1e-9);
        Assert.Equal(once.PowerKw * 1000 / once.TokensPerSecond, once.JoulesPerToken, 1e-9);
        Assert.Equal(once.Devices * hardware.UsdPerHour / (once.TokensPerSecond * 3600) * 1e6, once.UsdPerMillionOutputTokens, 1e-9);
        Assert.Equal(once.UsdPerMillionOutputTokens, twice.UsdPerMillionOutputTokens, once.UsdPerMillionOutputTokens * 0.1);
    }

    [Fact]
    public void A_power_cap_below_the_need_makes_the_option_infeasible()
    {
        var request = Request("llama-3.1-70b", "h100-sxm", Precision.FP8, perDay: 1e11) with { Site = new Site { PowerCapMw = 0.01 } };
        var option = Planner.PlanOne(request, Catalogs.FindHardware("h100-sxm"));
        Assert.False(option.Feasible);
        Assert.Contains("MW cap", option.Why);
    }

    [Fact]
    public void The_frontier_only_keeps_points_nothing_beats_on_both_axes()
    {
        var option = Planner.PlanOne(Request("llama-3.1-8b", "h100-sxm", Precision.BF16), Catalogs.FindHardware("h100-sxm"));
        var f = option.Frontier;
        Assert.True(f.Count >= 3);
        for (int i = 1; i < f.Count; i++)
        {
            Assert.True(f[i].TokensPerSecondPerUser <= f[i - 1].TokensPerSecondPerUser);
            Assert.True(f[i].TokensPerSecondPerDevice > f[i - 1].TokensPerSecondPerDevice);
        }
        string svg = FrontierSvg.Render("test", [("h100-sxm", f)]);
        Assert.StartsWith("<svg", svg);
        Assert.Equal(f.Count, svg.Split("<circle").Length - 1);
    }

    [Fact]
    public void The_budget_form_turns_people_into_tokens_per_day()
    {
        var budget = new TokenBudget(People: 1000, SalaryUsd: 500_000, ShareOnTokens: 0.5, UsdPerMillionTokens: 2);
        Assert.Equal(2.5e8, budget.UsdPerYear);
        Assert.Equal(2.5e8 / 365 / 2 * 1e6, budget.TokensPerDay, 1);
    }

    /// <summary>The calibration tests' workloads: short and long prompts, 1 to 8 in flight, as <c>plan calibrate</c>'s set.</summary>
    private static readonly Workload[] CalibrationSet =
    [
        new() { InputTokens = 32, OutputTokens = 32, Concurrency = 1, Requests = 4 },
        new() { InputTokens = 32, OutputTokens = 32, Concurrency = 8, Requests = 16 },
        new() { InputTokens = 256, OutputTokens = 8, Concurrency = 1, Requests = 4 },
        new() { InputTokens = 128, OutputTokens = 24, Concurrency = 4, Requests = 12 },
        new() { InputTokens = 1024, OutputTokens = 16, Concurrency = 4, Requests = 8 },
    ];

    /// <summary>The calibration set "measured" on <paramref name="truth"/>: what its simulation gives.</summary>
    private static List<MeasuredRun> MeasuredBy(HardwareProfile truth, ModelProfile model)
    {
        var predicted = Calibrator.Predict(truth, model, Precision.Q8_0, [.. CalibrationSet.Select(w => new MeasuredRun(w, 256, 32, 1, 1))]);
        return [.. CalibrationSet.Select((w, i) => new MeasuredRun(w, 256, 32, predicted[i].OutputTokensPerSecond, predicted[i].TtftMean))];
    }

    /// <summary>A dense model's shape, its cache <paramref name="kvHeads"/> heads of <paramref name="headDim"/> keys and values per block.</summary>
    private static ModelProfile Dense(string name, double total, double dense, int layers, int hidden, int queryHeads, int headDim, int kvHeads) => new()
    {
        Name = name, TotalParameters = total, DenseParameters = dense, Layers = layers, Hidden = hidden, QueryHeads = queryHeads, AttentionDim = headDim,
        KvElementsPerToken = 2 * layers * kvHeads * headDim, AttentionLayers = layers,
    };

    /// <summary>The rates a CPU "truly" runs at, which the calibration tests measure by (50 GB/s, products at <paramref name="tflops"/>, no fixed step cost); each test sets the rest.</summary>
    private static HardwareProfile Truth(double tflops) => new()
    {
        Id = CpuProfile.Id, Name = "truth", MemoryGb = 64, MemoryBandwidthTbps = 0.05, PeakTflops = HardwareProfile.OneRate(tflops), ComputeEfficiency = 1, StepOverheadMs = 0,
    };

    /// <summary><paramref name="truth"/> with the fitted rates in place of its own, as <c>plan calibrate</c> saves them (a cost per block, no fixed step cost).</summary>
    private static HardwareProfile Fitted(HardwareProfile truth, CalibrationFit fit) => truth with
    {
        PeakTflops = HardwareProfile.OneRate(fit.Tflops), ProductRates = fit.Products, AttentionTflops = fit.AttentionTflops, ElementsPerSecond = fit.ElementsPerSecond,
        MemoryEfficiency = fit.MemoryEfficiency, StepOverheadMs = 0, LayerOverheadMs = fit.LayerOverheadMs, CacheReadElementsPerSecond = fit.CacheReadElementsPerSecond,
        UnoverlappedShare = fit.UnoverlappedShare,
    };

    [Fact]
    public void With_the_products_rate_probed_calibration_predicts_a_wider_model_from_a_narrow_one()
    {
        // The truth: products at 0.7 TFLOPS, and per-token work outside them at 3 G elements/s, a larger share of a narrow
        // model's step than of a wide one's. Calibrated on the narrow model, the wide one must come out as the truth gives it.
        var narrow = Dense("narrow", 60e6, 55e6, layers: 12, hidden: 512, queryHeads: 8, headDim: 64, kvHeads: 8);
        var wide = Dense("wide", 240e6, 230e6, layers: 8, hidden: 2048, queryHeads: 16, headDim: 128, kvHeads: 2);
        var truth = Truth(0.7) with { MemoryEfficiency = 0.8, AttentionTflops = 0.3, CacheReadElementsPerSecond = 4e9, UnoverlappedShare = 0.25, ElementsPerSecond = 3e9 };
        var runs = MeasuredBy(truth, narrow);
        var split = Calibrator.Fit(narrow, Precision.Q8_0, 0.05, 64, runs, new ProductRates([new(64, 0.7)]));
        var single = Calibrator.Fit(narrow, Precision.Q8_0, 0.05, 64, runs);
        Assert.Equal(0.7, split.Tflops);
        Assert.NotNull(split.ElementsPerSecond);
        Assert.Null(single.ElementsPerSecond);

        // A prompt-bound workload of the wide model (compute, where the two rates' balance matters).
        var held = new List<MeasuredRun> { new(new Workload { InputTokens = 512, OutputTokens = 4, Concurrency = 2, Requests = 6 }, 256, 32, 1, 1) };
        double expected = Calibrator.Predict(truth, wide, Precision.Q8_0, held)[0].TtftMean;
        double withSplit = Calibrator.Predict(Fitted(truth, split), wide, Precision.Q8_0, held)[0].TtftMean;
        double withOneRate = Calibrator.Predict(Fitted(truth, single), wide, Precision.Q8_0, held)[0].TtftMean;
        Assert.Equal(expected, withSplit, expected * 0.03);
        // One rate fitted on the narrow model carries its share of per-token work to the wide one: too slow.
        Assert.True(withOneRate > expected * 1.08, $"one rate: {withOneRate:F3} s against {expected:F3} s");
    }

    [Fact]
    public void With_the_products_rates_probed_by_rows_calibration_carries_each_shapes_own_to_its_predictions()
    {
        // The truth: each shape's products slow down at few rows by its own measure (the narrow model's 16-row products at 80 %
        // of its 64-row rate, the wide one's at 96 %: a product's fixed costs weigh less on a larger matrix), and the rest of a
        // token's work at 3 G elements/s. Calibrated on the narrow model with its rates by rows, the wide model's 16-sequence
        // decode (compute-bound) must come out as the truth gives it; with only the 64-row rate probed, the fit takes the
        // narrow model's slow few-row products for slow per-token work and carries that to the wide one.
        var narrow = Dense("narrow", 500e6, 490e6, layers: 24, hidden: 896, queryHeads: 14, headDim: 64, kvHeads: 2);
        var wide = Dense("wide", 1.1e9, 1.03e9, layers: 22, hidden: 2048, queryHeads: 32, headDim: 64, kvHeads: 4);
        var narrowRates = new ProductRates([new(8, 0.45), new(16, 0.56), new(64, 0.7)]);
        var wideRates = new ProductRates([new(8, 0.6), new(16, 0.672), new(64, 0.7)]);
        // Weight reads at the probed rate, as the engine's own products probe it (fits on this VM find an efficiency of 1: one
        // model's runs cannot tell a lower one from a per-step cost, so the truth leaves no room between them).
        var truth = Truth(0.7) with { MemoryEfficiency = 1, AttentionTflops = 0.3, CacheReadElementsPerSecond = 4e9, UnoverlappedShare = 0.25, ElementsPerSecond = 3e9 };
        var runs = MeasuredBy(truth with { ProductRates = narrowRates }, narrow);
        var byRows = Calibrator.Fit(narrow, Precision.Q8_0, 0.05, 64, runs, narrowRates);
        var at64Rows = new ProductRates([new(64, 0.7)]);
        var atMostRows = Calibrator.Fit(narrow, Precision.Q8_0, 0.05, 64, runs, at64Rows);
        Assert.Same(narrowRates, byRows.Products);

        var held = new List<MeasuredRun> { new(new Workload { InputTokens = 16, OutputTokens = 64, Concurrency = 16, Requests = 32 }, 256, 32, 1, 1) };
        double expected = Calibrator.Predict(truth with { ProductRates = wideRates }, wide, Precision.Q8_0, held)[0].OutputTokensPerSecond;
        double withRows = Calibrator.Predict(Fitted(truth, byRows) with { ProductRates = wideRates }, wide, Precision.Q8_0, held)[0].OutputTokensPerSecond;
        double withPeak = Calibrator.Predict(Fitted(truth, atMostRows) with { ProductRates = at64Rows }, wide, Precision.Q8_0, held)[0].OutputTokensPerSecond;
        Assert.Equal(expected, withRows, expected * 0.03);
        Assert.True(withPeak < expected * 0.95, $"64-row rate only: {withPeak:F1} tokens/s against {expected:F1}");
    }

    [Fact]
    public void Product_rates_interpolate_in_log_rows_and_hold_their_ends()
    {
        var rates = new ProductRates([new(64, 0.7), new(8, 0.5), new(16, 0.6)]);
        Assert.Equal([8, 16, 64], rates.Points.Select(p => p.Tokens));
        Assert.Equal(0.7, rates.PeakTflops);
        Assert.Equal(0.5, rates.Tflops(1)); // fewer rows than probed: weight reads bind there, the fewest rows' rate stands
        Assert.Equal(0.5, rates.Tflops(8));
        Assert.Equal(0.6, rates.Tflops(16), 1e-12);
        Assert.Equal(0.65, rates.Tflops(32), 1e-12); // halfway from 16 to 64 in log rows
        Assert.Equal(0.55, rates.Tflops(Math.Sqrt(8 * 16)), 1e-12);
        Assert.Equal(0.7, rates.Tflops(4096));
        Assert.Throws<ArgumentException>(() => new ProductRates([]));
        Assert.Throws<ArgumentException>(() => new ProductRates([new(0, 0.5)]));
        Assert.Throws<ArgumentException>(() => new ProductRates([new(8, 0)]));
    }

    [Fact]
    public void A_profile_from_before_the_element_rate_plans_with_one_compute_rate()
    {
        string path = Path.Combine(Path.GetTempPath(), $"planner-cpu-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, """
                { "name": "old", "threads": 2, "memory_gb": 23, "memory_bandwidth_tbps": 0.05, "effective_tflops": 0.6,
                  "memory_efficiency": 0.9, "step_overhead_ms": 0, "calibrated_on": "old.gguf" }
                """);
            var old = CpuProfile.Load(path)!;
            Assert.Equal(0, old.ElementsPerSecond);
            Assert.Null(old.ToHardware().ElementsPerSecond);
            Assert.Null(old.ToHardware().ProductRates);
            (old with { ElementsPerSecond = 3e9, ProductRates = new ProductRates([new(8, 0.5), new(64, 0.7)]) }).Save(path);
            var loaded = CpuProfile.Load(path)!.ToHardware();
            Assert.Equal(3e9, loaded.ElementsPerSecond);
            Assert.Equal([(8, 0.5), (64, 0.7)], loaded.ProductRates!.Points.Select(p => (p.Tokens, p.Tflops)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Calibration_fits_the_measurements_and_predicts_workloads_outside_them()
    {
        // A small model, as calibration uses on a CPU: weight reads, compute and the fixed step cost are all visible in its runs.
        var model = Dense("small", 60e6, 55e6, layers: 8, hidden: 512, queryHeads: 8, headDim: 64, kvHeads: 8);
        var truth = Truth(0.4) with { MemoryEfficiency = 0.7, StepOverheadMs = 2, AttentionTflops = 0.15, CacheReadElementsPerSecond = 2e9, UnoverlappedShare = 0.3 };
        var runs = MeasuredBy(truth, model);
        var fit = Calibrator.Fit(model, Precision.Q8_0, 0.05, 64, runs);
        Assert.True(fit.Error < 0.03, $"fit error {fit.Error:P1}");
        // What matters is prediction: workloads not in the set come out as the true rates give them.
        var fitted = Fitted(truth, fit);
        Workload[] held =
        [
            new() { InputTokens = 512, OutputTokens = 16, Concurrency = 2, Requests = 6 },
            new() { InputTokens = 16, OutputTokens = 64, Concurrency = 16, Requests = 32 },
            new() { InputTokens = 64, OutputTokens = 48, ArrivalRate = 2, Requests = 40 },
        ];
        var runsHeld = held.Select(w => new MeasuredRun(w, 256, 32, 1, 1)).ToList();
        var expected = Calibrator.Predict(truth, model, Precision.Q8_0, runsHeld);
        var actual = Calibrator.Predict(fitted, model, Precision.Q8_0, runsHeld);
        for (int i = 0; i < held.Length; i++)
        {
            Assert.Equal(expected[i].OutputTokensPerSecond, actual[i].OutputTokensPerSecond, expected[i].OutputTokensPerSecond * 0.05);
            Assert.Equal(expected[i].TtftMean, actual[i].TtftMean, expected[i].TtftMean * 0.1);
        }
    }
}
