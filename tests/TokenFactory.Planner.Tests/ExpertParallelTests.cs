using TokenFactory.Planning;

namespace TokenFactory.Planning.Tests;

/// <summary>
/// Expert parallelism: a replica of TP × EP devices runs EP attention groups, each with the dense weights, and spreads the
/// routed experts over all its devices; tokens cross to their experts' devices and back in every mixture layer.
/// </summary>
public sealed class ExpertParallelTests
{
    private static HardwareProfile B200 => Catalogs.FindHardware("b200");

    [Fact]
    public void The_dense_weights_are_held_once_per_attention_group_and_the_experts_once()
    {
        var m = Catalogs.FindModel("deepseek-r1");
        double bytes = Precision.FP4.BytesPerWeight();
        double dense = m.TotalParameters - m.RoutedExpertParameters;
        var ep8 = new Deployment(m, B200, Precision.FP4, 1, 8);
        Assert.Equal(8, ep8.Devices);
        Assert.Equal((8 * dense + m.RoutedExpertParameters) * bytes, ep8.WeightBytes, 1e3);
        Assert.Equal(new Deployment(m, B200, Precision.FP4, 8).WeightBytes + 7 * dense * bytes, ep8.WeightBytes, 1e3);
        // Same devices, same memory: the dense copies leave EP8 less cache than TP8.
        Assert.True(ep8.KvCapacityTokens < new Deployment(m, B200, Precision.FP4, 8).KvCapacityTokens);
        // One B200 cannot hold DeepSeek-R1 at FP4; spread over eight, its experts fit.
        Assert.False(new Deployment(m, B200, Precision.FP4).Fits);
        Assert.True(ep8.Fits);
    }

    [Fact]
    public void A_step_pays_for_the_token_exchange_in_proportion_to_its_tokens_over_the_link()
    {
        var m = Catalogs.FindModel("deepseek-r1");
        var slowLink = B200 with { LinkGbps = B200.LinkGbps / 10 };
        double Step(HardwareProfile h, int ep, int tokens) => new StepCostModel(new Deployment(m, h, Precision.FP4, 8 / ep, ep)).Seconds(tokens, 1000, 0, 0, 0);

        // One device exchanges nothing: the link does not matter.
        double alone(HardwareProfile h) => new StepCostModel(new Deployment(m, h, Precision.FP4)).Seconds(1024, 1000, 0, 0, 0);
        Assert.Equal(alone(B200), alone(slowLink));
        // EP8 on one-device groups: no all-reduce, so what a slower link adds is the exchange alone. Per step, dispatch and
        // combine of each token's 8 experts' 7168-wide 16-bit activations in 58 layers, 7/8 of them remote, each device
        // sending an eighth of the tokens; at a tenth of the link that takes 10 − 1 = 9 times its full-speed time longer.
        double perDevice = 1024.0 / 8 * 8 * 7168 * 2 * 7 / 8;
        double atFullSpeed = 2 * 58 * perDevice / (B200.LinkGbps / 2 * 1e9 * B200.LinkEfficiency);
        Assert.Equal(9 * atFullSpeed, Step(slowLink, 8, 1024) - Step(B200, 8, 1024), 9 * atFullSpeed * 0.01);
        Assert.Equal(2 * 9 * atFullSpeed, Step(slowLink, 8, 2048) - Step(B200, 8, 2048), 2 * 9 * atFullSpeed * 0.01);
    }

    [Fact]
    public void The_planner_spreads_a_large_mixture_over_expert_parallel_groups_and_counts_their_devices()
    {
        var request = new PlanRequest
        {
            Model = Catalogs.FindModel("deepseek-r1"), Hardware = [B200], Precision = Precision.FP4,
            InputTokens = 800, OutputTokens = 1000, Scenario = "offline", Devices = 8,
        };
        var free = Planner.PlanOne(request, B200);
        Assert.True(free.Feasible);
        Assert.True(free.ExpertParallel > 1, $"chose TP{free.TensorParallel} EP{free.ExpertParallel}");
        Assert.Equal(8, free.Devices);
        Assert.Equal(free.TokensPerSecond / free.Devices, free.TokensPerSecondPerDevice, 1e-6);
        Assert.Contains(free.Frontier, p => p.ExpertParallel > 1);

        // Without expert parallelism (--ep 1) the same eight devices give less.
        var tensorOnly = Planner.PlanOne(request with { ExpertParallel = 1 }, B200);
        Assert.Equal(1, tensorOnly.ExpertParallel);
        Assert.True(tensorOnly.TokensPerSecondPerDevice < free.TokensPerSecondPerDevice);
        Assert.All(tensorOnly.Frontier, p => Assert.Equal(1, p.ExpertParallel));

        // A fixed pair is taken as given.
        var fixedPair = Planner.PlanOne(request with { TensorParallel = 2, ExpertParallel = 4 }, B200);
        Assert.Equal((2, 4, 8), (fixedPair.TensorParallel, fixedPair.ExpertParallel, fixedPair.Devices));
    }

    [Fact]
    public void A_demand_gets_the_configuration_that_serves_it_on_the_fewest_devices()
    {
        var gb300 = Catalogs.FindHardware("gb300-nvl72");
        var request = new PlanRequest
        {
            Model = Catalogs.FindModel("deepseek-r1"), Hardware = [gb300], Precision = Precision.FP4,
            InputTokens = 2000, OutputTokens = 500, Scenario = "server", TpotP99Ms = 20,
        };
        // One replica at full load: the widest spread gives the most per device.
        var oneReplica = Planner.PlanOne(request, gb300);
        Assert.True(oneReplica.Feasible);
        // 2 billion tokens a day (about 23,000 a second) does not need a replica that wide: the plan takes fewer devices.
        var small = Planner.PlanOne(request with { OutputTokensPerDay = 2e9 }, gb300);
        Assert.True(small.Feasible);
        Assert.True(small.Devices < oneReplica.Devices, $"{small.Devices} devices (TP{small.TensorParallel} EP{small.ExpertParallel}) against one replica of {oneReplica.Devices}");
        Assert.True(small.TokensPerSecond >= 2e9 / 86400 * 0.999);
    }

    [Fact]
    public void A_dense_model_or_a_device_without_a_link_never_gets_expert_parallelism()
    {
        var dense = new PlanRequest { Model = Catalogs.FindModel("llama-3.1-70b"), Hardware = [B200], Precision = Precision.FP8, InputTokens = 1000, OutputTokens = 200, Scenario = "offline" };
        Assert.All(Planner.ParallelDegrees(dense, B200), d => Assert.Equal(1, d.Ep));
        var moe = dense with { Model = Catalogs.FindModel("qwen3-30b-a3b") };
        Assert.Contains(Planner.ParallelDegrees(moe, B200), d => d.Ep > 1);
        Assert.All(Planner.ParallelDegrees(moe, B200), d => Assert.True(d.Tp * d.Ep <= B200.Domain));
        Assert.All(Planner.ParallelDegrees(moe, B200 with { LinkGbps = 0 }), d => Assert.Equal(1, d.Ep));
        Assert.All(Planner.ParallelDegrees(moe with { Devices = 2 }, B200), d => Assert.True(d.Tp * d.Ep <= 2));
        // A fixed EP with a free TP keeps TP × EP within the domain and the given devices.
        Assert.All(Planner.ParallelDegrees(moe with { ExpertParallel = 4 }, B200), d => Assert.True(d.Ep == 4 && d.Tp * d.Ep <= B200.Domain));
        Assert.Equal([(1, 4), (2, 4)], Planner.ParallelDegrees(moe with { ExpertParallel = 4 }, B200));
        Assert.Equal([(1, 4)], Planner.ParallelDegrees(moe with { ExpertParallel = 4, Devices = 4 }, B200));
    }
}
