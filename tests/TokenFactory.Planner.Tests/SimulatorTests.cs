using TokenFactory.Planning;

namespace TokenFactory.Planning.Tests;

/// <summary>The scheduler simulation against cases worked by hand: one request alone, Little's law, and queueing under load.</summary>
public sealed class SimulatorTests
{
    private static readonly HardwareProfile Gpu = Catalogs.FindHardware("h100-sxm");
    private static readonly ModelProfile Model = Catalogs.FindModel("llama-3.1-8b");

    private static StepCostModel Cost => new(new Deployment(Model, Gpu, Precision.BF16));

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
}
