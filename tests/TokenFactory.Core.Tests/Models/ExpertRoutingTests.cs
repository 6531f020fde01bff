using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>Mixture-of-experts routing of one token, against values worked out by hand.</summary>
public sealed class ExpertRoutingTests
{
    private static (int[] Selected, float[] Weights) Route(MoeConfig moe, float[] logits, float[]? bias = null)
    {
        var selected = new int[moe.UsedCount];
        var weights = new float[moe.UsedCount];
        ExpertFeedForward.Route(moe, bias ?? [], logits, selected, weights);
        return (selected, weights);
    }

    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    [Fact]
    public void Sigmoid_router_ranks_on_biased_probabilities_but_weights_by_unbiased_ones()
    {
        var moe = new MoeConfig(4, 2, 8, 0, NormalizeWeights: false, WeightsScale: 1f, ExpertGating.Sigmoid);
        float[] logits = [2f, 1f, 0f, -1f];
        // Without bias experts 0 and 1 win; a bias of +1 on expert 3 lifts it past both.
        Assert.Equal([0, 1], Route(moe, [.. logits]).Selected);
        var (selected, weights) = Route(moe, [.. logits], [0f, 0f, 0f, 1f]);
        Assert.Equal([3, 0], selected);
        Assert.Equal([Sigmoid(-1f), Sigmoid(2f)], weights);
    }

    [Fact]
    public void Weights_are_normalised_then_scaled()
    {
        var moe = new MoeConfig(4, 2, 8, 0, NormalizeWeights: true, WeightsScale: 2.5f, ExpertGating.Sigmoid);
        var (selected, weights) = Route(moe, [0f, 3f, -2f, 1f]);
        Assert.Equal([1, 3], selected);
        float a = Sigmoid(3f), b = Sigmoid(1f);
        Assert.Equal(a / (a + b) * 2.5f, weights[0], 6);
        Assert.Equal(b / (a + b) * 2.5f, weights[1], 6);
        Assert.Equal(2.5f, weights.Sum(), 5);
    }

    [Fact]
    public void Softmax_router_gives_probabilities_over_all_experts()
    {
        var moe = new MoeConfig(3, 1, 8, 0, NormalizeWeights: false, WeightsScale: 1f, ExpertGating.Softmax);
        var (selected, weights) = Route(moe, [1f, 2f, 0f]);
        Assert.Equal([1], selected);
        float total = MathF.Exp(-1f) + 1f + MathF.Exp(-2f);
        Assert.Equal(1f / total, weights[0], 6);
    }

    [Fact]
    public void All_zero_probabilities_do_not_divide_by_zero()
    {
        var moe = new MoeConfig(3, 2, 8, 0, NormalizeWeights: true, WeightsScale: 1f, ExpertGating.Sigmoid);
        var (selected, weights) = Route(moe, [-200f, -200f, -200f]);
        Assert.Equal(2, selected.Distinct().Count());
        Assert.All(weights, w => Assert.True(float.IsFinite(w) && w >= 0));
    }
}
