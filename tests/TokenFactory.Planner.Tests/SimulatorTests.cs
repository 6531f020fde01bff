using TokenFactory.Planning;

namespace TokenFactory.Planning.Tests;

/// <summary>The scheduler simulation against cases worked by hand: one request alone, Little's law, queueing under load, closed-loop timing, traces and dataset lengths.</summary>
public sealed class SimulatorTests
{
    private static readonly HardwareProfile Gpu = Catalogs.FindHardware("h100-sxm");
    private static readonly ModelProfile Model = Catalogs.FindModel("llama-3.1-8b");

    private static StepCostModel Cost => new(new Deployment(Model, Gpu, Precision.BF16));

    /// <summary>A calibrated CPU as <c>plan calibrate</c> gives it: attention's FLOPs and cache reads as their own phase.</summary>
    private static readonly HardwareProfile Cpu = new()
    {
        Id = CpuProfile.Id, Name = "cpu", MemoryGb = 64, MemoryBandwidthTbps = 0.05, PeakTflops = new Dictionary<string, double> { ["bf16"] = 0.5, ["fp8"] = 0.5 },
        ComputeEfficiency = 1, MemoryEfficiency = 1, StepOverheadMs = 1, AttentionTflops = 0.2, CacheReadElementsPerSecond = 2e9,
    };

    /// <summary>A 0.4B dense model with two KV heads of 64 per block.</summary>
    private static readonly ModelProfile SmallModel = new()
    {
        Name = "small", TotalParameters = 4e8, DenseParameters = 4e8, Layers = 24, Hidden = 1024, QueryHeads = 16, AttentionDim = 64,
        KvElementsPerToken = 2 * 24 * 2 * 64, AttentionLayers = 24,
    };

    [Fact]
    public void A_request_alone_gets_its_prompt_in_one_step_then_one_token_a_step()
    {
        var cost = Cost;
        var result = new Simulator(cost) { MaxBatchTokens = 4096 }.Run(new Workload { InputTokens = 1000, OutputTokens = 11, Concurrency = 1, Requests = 1 });
        double prefill = cost.Seconds(0, 0, 1000, 1, 500);
        Assert.Equal(prefill, result.TtftP50, 1e-9);
        // Ten decode steps, each attending to the prompt, the tokens so far and itself: contexts 1001..1010.
        double decode = Enumerable.Range(0, 10).Sum(i => cost.Seconds(1, 1001 + i, 0, 0, 0));
        Assert.Equal(decode / 10, result.TpotMean, 1e-9);
        Assert.Equal(11 / (prefill + decode), result.OutputTokensPerSecond, 1e-6);
    }

    [Fact]
    public void A_prompt_longer_than_the_step_budget_is_chunked()
    {
        var cost = Cost;
        var result = new Simulator(cost) { MaxBatchTokens = 256 }.Run(new Workload { InputTokens = 1000, OutputTokens = 2, Concurrency = 1, Requests = 1 });
        Assert.Equal(4 + 1, result.Steps); // 256 + 256 + 256 + 232, then one decode
    }

    [Fact]
    public void A_closed_loop_obeys_littles_law()
    {
        var result = new Simulator(Cost).Run(new Workload { InputTokens = 200, OutputTokens = 100, Concurrency = 16, Requests = 256 });
        // Throughput (requests/s) × mean time in system = requests in system.
        double perRequest = result.TtftMean + 99 * result.TpotMean;
        Assert.Equal(16, result.OutputTokensPerSecond / 100 * perRequest, 16 * 0.1);
    }

    [Fact]
    public void Batching_raises_throughput_and_lowers_interactivity_and_load_raises_the_ttft_tail()
    {
        var sim = new Simulator(Cost);
        var one = sim.Run(new Workload { InputTokens = 500, OutputTokens = 200, Concurrency = 1, Requests = 8 });
        var many = sim.Run(new Workload { InputTokens = 500, OutputTokens = 200, Concurrency = 64, Requests = 256 });
        Assert.True(many.OutputTokensPerSecond > 10 * one.OutputTokensPerSecond);
        Assert.True(many.TpotMean > one.TpotMean);
        double capacity = many.OutputTokensPerSecond / 200;
        var light = sim.Run(new Workload { InputTokens = 500, OutputTokens = 200, ArrivalRate = 0.2 * capacity, Requests = 400 });
        var heavy = sim.Run(new Workload { InputTokens = 500, OutputTokens = 200, ArrivalRate = 0.95 * capacity, Requests = 400 });
        Assert.True(heavy.TtftP99 > light.TtftP99);
        Assert.Equal(0.2 * capacity * 200, light.OutputTokensPerSecond, 0.2 * capacity * 200 * 0.25);
    }

    [Fact]
    public void A_closed_loop_request_sent_as_a_step_ends_joins_the_step_after_while_others_run()
    {
        var cost = Cost;
        // Two clients, one request each at first; the short one ends after its prompt step and one decode, and its client's next
        // request (the third) is sent then: the long one is still decoding, so the engine has started its next step without it.
        var sim = new Simulator(cost) { MaxBatchTokens = 4096 };
        var result = sim.Run(new Workload { InputTokens = 100, OutputTokens = 3, Concurrency = 1, Requests = 1 });
        double prompt = cost.Seconds(0, 0, 100, 1, 50);
        Assert.Equal(prompt, result.TtftP50, 1e-9);
        // Closed loop of one client: each next request is sent when the last ends and the engine is idle then, so it starts at
        // once: every TTFT is one prompt step.
        var loop = sim.Run(new Workload { InputTokens = 100, OutputTokens = 3, Concurrency = 1, Requests = 4 });
        Assert.Equal(prompt, loop.TtftP99, 1e-9);
        // Two clients that drift apart by a step stay apart: with staggered lengths, some TTFTs include waiting for a step
        // that started just before the request was sent.
        var two = new Simulator(cost) { MaxBatchTokens = 4096 }.Run(new Workload { InputTokens = 100, OutputTokens = 3, Concurrency = 2, Requests = 8, Spread = 0.6, Seed = 4 });
        Assert.True(two.TtftP99 > prompt * 1.2, $"p99 {two.TtftP99} against a prompt step {prompt}");
    }

    [Fact]
    public void Simultaneous_requests_at_an_idle_engine_share_its_first_step()
    {
        var cost = Cost;
        var sim = new Simulator(cost) { MaxBatchTokens = 65536 };
        var result = sim.Run(new Workload { InputTokens = 100, OutputTokens = 2, Concurrency = 64, Requests = 64, Seed = 2 });
        // The engine gathers a burst before its first step: all 64 prompts in one step, their second tokens in another.
        double together = cost.Seconds(0, 0, 6400, 64, 50);
        Assert.Equal(2, result.Steps);
        Assert.Equal(together, result.TtftP50, 1e-9);
        Assert.Equal(together, result.TtftP99, 1e-9);
        // Over a token budget, the rest wait for the next step's leftover budget, oldest first.
        var budgeted = new Simulator(cost) { MaxBatchTokens = 3200 }.Run(new Workload { InputTokens = 100, OutputTokens = 2, Concurrency = 64, Requests = 64, Seed = 2 });
        Assert.True(budgeted.Steps > 2 && budgeted.TtftP99 > budgeted.TtftP50, $"{budgeted.Steps} steps, p50 {budgeted.TtftP50}, p99 {budgeted.TtftP99}");
    }

    [Fact]
    public void A_trace_of_arrivals_is_replayed_as_given()
    {
        var cost = Cost;
        var sim = new Simulator(cost) { MaxBatchTokens = 4096 };
        double[] arrivals = [0.5, 10, 20.25];
        var result = sim.Run(new Workload { InputTokens = 100, OutputTokens = 2, Arrivals = arrivals });
        double prompt = cost.Seconds(0, 0, 100, 1, 50), decode = cost.Seconds(1, 101, 0, 0, 0);
        // Far apart, each runs alone: the span is from the first arrival to the last one's end.
        Assert.Equal(20.25 + prompt + decode - 0.5, result.Seconds, 1e-9);
        Assert.Equal(prompt, result.TtftP99, 1e-9);
        Assert.Equal(Workload.PoissonArrivals(3, 5, 7), Workload.PoissonArrivals(3, 5, 7));
        Assert.True(Workload.PoissonArrivals(3, 50, 7).Zip(Workload.PoissonArrivals(3, 50, 7).Skip(1)).All(p => p.Second > p.First));
    }

    [Fact]
    public void On_a_cpu_profile_attention_reads_of_wider_kv_heads_cost_more_than_their_flops_say()
    {
        var cpu = Cpu;
        var narrow = SmallModel with { Name = "narrow-kv" };
        var wide = narrow with { Name = "wide-kv", KvElementsPerToken = 2 * 24 * 16 * 64 };
        double Step(ModelProfile m, HardwareProfile h) => new StepCostModel(new Deployment(m, h, Precision.Q8_0)).Seconds(8, 1000, 0, 0, 0);
        // Same FLOPs, eight times the cache: the decode step is longer by the extra reads at the fitted rate.
        double extra = 8 * (wide.KvBytes(1001, 1) - narrow.KvBytes(1001, 1)) / 2e9;
        Assert.Equal(extra, Step(wide, cpu) - Step(narrow, cpu), extra * 1e-6);
        // Without the rate (a GPU profile) the cache is part of the one roofline's bytes.
        var gpu = cpu with { CacheReadElementsPerSecond = null };
        Assert.True(Step(wide, gpu) - Step(narrow, gpu) < extra / 2);
    }

    [Fact]
    public void On_a_cpu_profile_a_step_pays_per_block_and_for_compute_and_reads_that_do_not_overlap()
    {
        var cpu = Cpu with { StepOverheadMs = 0 };
        var model = SmallModel;
        double Step(ModelProfile m, HardwareProfile h) => new StepCostModel(new Deployment(m, h, Precision.Q8_0)).Seconds(8, 10, 0, 0, 0);
        // Per block: a deeper model pays for each of its blocks.
        var perBlock = cpu with { LayerOverheadMs = 0.1 };
        Assert.Equal(24 * 0.1e-3, Step(model, perBlock) - Step(model, cpu), 1e-9);
        Assert.Equal(36 * 0.1e-3, Step(model with { Layers = 36 }, perBlock) - Step(model with { Layers = 36 }, cpu), 1e-9);
        // Unoverlapped: the smaller of the multiplications (alone: memory infinitely fast) and the weight reads (alone: compute
        // infinitely fast) adds its share on top of the larger.
        double attention = Step(model, cpu with { MemoryBandwidthTbps = 1e9, PeakTflops = new Dictionary<string, double> { ["bf16"] = 1e9 } });
        double linear = Step(model, cpu with { MemoryBandwidthTbps = 1e9 }) - attention;
        double reads = Step(model, cpu with { PeakTflops = new Dictionary<string, double> { ["bf16"] = 1e9 } }) - attention;
        Assert.True(linear > 0 && reads > 0);
        Assert.Equal(Math.Max(linear, reads) + attention, Step(model, cpu), 1e-9);
        Assert.Equal(Math.Max(linear, reads) + 0.4 * Math.Min(linear, reads) + attention, Step(model, cpu with { UnoverlappedShare = 0.4 }), 1e-9);
    }

    [Fact]
    public void A_measured_run_is_predicted_at_the_bandwidth_probed_around_it()
    {
        var cpu = Cpu with { MemoryBandwidthTbps = 0.08, StepOverheadMs = 0.5 };
        var model = SmallModel;
        var run = new MeasuredRun(new Workload { InputTokens = 16, OutputTokens = 32, Concurrency = 1, Requests = 2 }, 256, 32, 1, 1);
        double Tps(HardwareProfile h, MeasuredRun r) => Calibrator.Predict(h, model, Precision.Q8_0, [r])[0].OutputTokensPerSecond;
        double atProfile = Tps(cpu, run), slower = Tps(cpu, run with { BandwidthTbps = 0.04 });
        Assert.True(slower < atProfile * 0.75, $"{slower} at 40 GB/s against {atProfile} at 80");
        Assert.Equal(Tps(cpu with { MemoryBandwidthTbps = 0.04 }, run), slower, 1e-9);
    }

    [Fact]
    public void A_measured_run_is_predicted_with_the_products_rates_scaled_to_the_rate_probed_around_it()
    {
        // Rates by rows probed once (0.4 TFLOPS at 64 rows); around the run the 64-row products ran at 0.2: a prompt-bound run is
        // predicted with every point halved, as if the profile had been probed then.
        var rates = new ProductRates([new(8, 0.3), new(64, 0.4)]);
        var cpu = Cpu with { MemoryBandwidthTbps = 10, ProductRates = rates };
        var run = new MeasuredRun(new Workload { InputTokens = 512, OutputTokens = 2, Concurrency = 1, Requests = 2 }, 256, 32, 1, 1);
        double Ttft(HardwareProfile h, MeasuredRun r) => Calibrator.Predict(h, SmallModel, Precision.Q8_0, [r])[0].TtftMean;
        double slower = Ttft(cpu, run with { ProductTflops = 0.2 });
        Assert.True(slower > Ttft(cpu, run) * 1.2, $"{slower} s with the products at half the rate against {Ttft(cpu, run)} s");
        Assert.Equal(Ttft(cpu with { ProductRates = rates.Scaled(0.5) }, run), slower, 1e-12);
        Assert.Equal(Ttft(cpu, run), Ttft(cpu, run with { ProductTflops = 0.4 }), 1e-12);
    }

    [Fact]
    public void Dataset_lengths_are_taken_request_by_request_in_turn()
    {
        var cost = Cost;
        var sim = new Simulator(cost) { MaxBatchTokens = 4096 };
        // One request of the dataset's first entry: exactly the worked case of a request alone.
        var one = sim.Run(new Workload { InputTokens = 1, OutputTokens = 1, Concurrency = 1, Requests = 1, Lengths = [new(1000, 11), new(10, 2)] });
        Assert.Equal(cost.Seconds(0, 0, 1000, 1, 500), one.TtftP50, 1e-9);
        // Four requests in turn: two long prompts and two short ones; one client, so each TTFT is its own prompt step.
        var four = sim.Run(new Workload { InputTokens = 1, OutputTokens = 1, Concurrency = 1, Requests = 4, Lengths = [new(1000, 11), new(10, 2)] });
        Assert.Equal(cost.Seconds(0, 0, 1000, 1, 500), four.TtftP99, 1e-9);
        Assert.Equal((cost.Seconds(0, 0, 1000, 1, 500) + cost.Seconds(0, 0, 10, 1, 5)) / 2, four.TtftMean, 1e-9);
    }

    [Fact]
    public void A_higher_priority_class_waits_less_when_requests_queue()
    {
        // More clients than running slots: requests wait, and the first class's are admitted (and prefilled) first.
        var sim = new Simulator(Cost) { MaxRunning = 8, MaxBatchTokens = 2048 };
        var result = sim.Run(new Workload { InputTokens = 500, OutputTokens = 50, Concurrency = 32, Requests = 400, ClassShares = [0.25, 0.75], Seed = 3 });
        Assert.Equal(2, result.Classes.Count);
        var (high, low) = (result.Classes[0], result.Classes[1]);
        Assert.Equal(400, high.Requests + low.Requests);
        Assert.InRange(high.Requests, 70, 130); // a quarter, drawn
        Assert.True(high.TtftP50 * 2 < low.TtftP50, $"TTFT p50 {high.TtftP50} (first class) against {low.TtftP50}");
        Assert.True(high.TtftP99 < low.TtftP99);
        // One class: the same run as without classes.
        var one = sim.Run(new Workload { InputTokens = 500, OutputTokens = 50, Concurrency = 32, Requests = 400, ClassShares = [1.0], Seed = 3 });
        var none = sim.Run(new Workload { InputTokens = 500, OutputTokens = 50, Concurrency = 32, Requests = 400, Seed = 3 });
        Assert.Equal(none.TtftP99, one.TtftP99);
        Assert.Equal(none.TtftP99, one.Classes[0].TtftP99);
    }
}
