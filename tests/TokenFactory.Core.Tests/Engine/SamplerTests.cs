using TokenFactory.Engine;

namespace TokenFactory.Tests.Engine;

public sealed class SamplerTests
{
    private static float[] Logits(params float[] v) => v;

    [Fact]
    public void Greedy_picks_the_largest_logit_and_lowest_index_on_ties()
    {
        var s = new Sampler(SamplingParameters.Greedy, 4);
        Assert.Equal(2, s.Sample(Logits(0, 1, 3, 3)));
    }

    [Fact]
    public void Top_k_1_is_greedy_even_at_high_temperature()
    {
        var s = new Sampler(new SamplingParameters { Temperature = 5, TopK = 1, Seed = 1 }, 5);
        for (int i = 0; i < 50; i++)
            Assert.Equal(3, s.Sample(Logits(1, 2, 0, 4, 3.9f)));
    }

    [Fact]
    public void Same_seed_reproduces_the_same_draws_and_other_seeds_differ()
    {
        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    /// <summary>A response's choices are seeded seed, seed + 1, …: each must draw its own stream, negative API seeds included.</summary>
    [Theory]
    [InlineData(ulong.MaxValue, 0UL)] // seed -1 with n = 2
    [InlineData(2147483647UL, 2147483648UL)] // seed 2^31 - 1 with n = 2
    [InlineData(ulong.MaxValue - 1, 1UL)] // seed -2: choices 0 and 3 of n = 4
    public void Seeds_of_one_responses_choices_draw_differently(ulong a, ulong b)
    {
        Assert.NotEqual(Draw(a), Draw(b));
        var reset = new Sampler(new SamplingParameters { Temperature = 1.5f, Seed = a }, 100);
        reset.Reset(b);
        Assert.Equal(Draw(b), Enumerable.Range(0, 40).Select(_ => reset.Sample(SinLogits)).ToArray());
    }

    private static readonly float[] SinLogits = [.. Enumerable.Range(0, 100).Select(i => (float)Math.Sin(i))];

    private static int[] Draw(ulong seed)
    {
        var s = new Sampler(new SamplingParameters { Temperature = 1.5f, Seed = seed }, 100);
        return [.. Enumerable.Range(0, 40).Select(_ => s.Sample(SinLogits))];
    }

    [Fact]
    public void Top_k_keeps_exactly_the_k_best_of_a_large_vocabulary()
    {
        var rng = new Random(11);
        var logits = Enumerable.Range(0, 5000).Select(_ => (float)rng.NextDouble()).ToArray();
        var best = logits.Select((v, i) => (v, i)).OrderByDescending(x => x.v).Take(3).Select(x => x.i).ToHashSet();
        var s = new Sampler(new SamplingParameters { Temperature = 50, TopK = 3, Seed = 2 }, logits.Length);
        var seen = Enumerable.Range(0, 300).Select(_ => s.Sample(logits)).ToHashSet();
        Assert.Equal(best, seen);
    }

    [Fact]
    public void Without_filters_every_token_can_be_drawn_in_proportion()
    {
        var logits = new float[] { 0, MathF.Log(3) };
        var s = new Sampler(new SamplingParameters { Temperature = 1, Seed = 9 }, 2);
        int ones = Enumerable.Range(0, 4000).Count(_ => s.Sample(logits) == 1);
        Assert.InRange(ones, 2850, 3150); // p = 0.75
    }

    [Fact]
    public void Top_p_keeps_only_the_nucleus()
    {
        // Probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps the first two.
        var logits = Logits(3, 2, 1, 0);
        var s = new Sampler(new SamplingParameters { Temperature = 1, TopP = 0.8f, Seed = 7 }, 4);
        var seen = Enumerable.Range(0, 500).Select(_ => s.Sample(logits)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void Min_p_drops_tokens_below_the_fraction_of_the_best()
    {
        var logits = Logits(0, -0.5f, -3, -4);
        var s = new Sampler(new SamplingParameters { Temperature = 1, MinP = 0.3f, Seed = 3 }, 4);
        var seen = Enumerable.Range(0, 500).Select(_ => s.Sample(logits)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void Repetition_presence_and_frequency_penalties_push_away_from_seen_tokens()
    {
        var logits = Logits(2, 1.9f, 0);
        var rep = new Sampler(SamplingParameters.Greedy with { RepetitionPenalty = 1.5f }, 3);
        rep.Accept(0);
        Assert.Equal(1, rep.Sample(logits));

        var freq = new Sampler(SamplingParameters.Greedy with { FrequencyPenalty = 0.06f }, 3);
        freq.Accept(0);
        Assert.Equal(0, freq.Sample(logits)); // 2 - 0.06 > 1.9
        freq.Accept(0);
        Assert.Equal(1, freq.Sample(logits)); // 2 - 0.12 < 1.9

        var presence = new Sampler(SamplingParameters.Greedy with { PresencePenalty = 0.2f }, 3);
        presence.Accept(0);
        Assert.Equal(1, presence.Sample(logits));
    }

    [Fact]
    public void Penalty_window_forgets_old_tokens()
    {
        var s = new Sampler(SamplingParameters.Greedy with { PresencePenalty = 1f, PenaltyWindow = 2 }, 3);
        s.Accept(0);
        s.Accept(2);
        s.Accept(2);
        Assert.Equal(0, s.Sample(Logits(2, 1.9f, 0)));
    }

    [Theory]
    [InlineData(GenerationParameter.Temperature, -1f)]
    [InlineData(GenerationParameter.TopP, 0f)]
    [InlineData(GenerationParameter.MinP, 2f)]
    [InlineData(GenerationParameter.TopK, -3f)]
    [InlineData(GenerationParameter.RepetitionPenalty, 0f)]
    [InlineData(GenerationParameter.FrequencyPenalty, 2.5f)]
    [InlineData(GenerationParameter.PresencePenalty, -2.5f)]
    [InlineData(GenerationParameter.PenaltyWindow, -1f)]
    public void Invalid_parameters_name_the_parameter_and_the_value(GenerationParameter parameter, float value)
    {
        var p = parameter switch
        {
            GenerationParameter.Temperature => new SamplingParameters { Temperature = value },
            GenerationParameter.TopP => new SamplingParameters { TopP = value },
            GenerationParameter.MinP => new SamplingParameters { MinP = value },
            GenerationParameter.TopK => new SamplingParameters { TopK = (int)value },
            GenerationParameter.RepetitionPenalty => new SamplingParameters { RepetitionPenalty = value },
            GenerationParameter.FrequencyPenalty => new SamplingParameters { FrequencyPenalty = value },
            GenerationParameter.PresencePenalty => new SamplingParameters { PresencePenalty = value },
            _ => new SamplingParameters { PenaltyWindow = (int)value },
        };
        var e = Assert.Throws<InvalidGenerationRequestException>(p.Validate);
        Assert.Equal(parameter, e.Parameter);
        Assert.Equal(value, e.Value);
        Assert.StartsWith(parameter.ToString(), e.Message);
    }

    [Fact]
    public void Default_parameters_are_valid_and_apply_no_penalty()
    {
        new SamplingParameters().Validate();
        Assert.False(new SamplingParameters().HasPenalties);
        Assert.True(new SamplingParameters { PresencePenalty = 0.1f }.HasPenalties);
    }

    [Fact]
    public void ArgMax_agrees_with_the_scalar_loop_for_every_length_ties_and_special_values()
    {
        var rng = new Random(17);
        float[] specials = [float.NaN, float.NegativeInfinity, float.PositiveInfinity, 0f, -0f, 3f];
        for (int n = 0; n <= 256; n++)
        {
            for (int trial = 0; trial < 4; trial++)
            {
                // Few distinct values, so ties are common; some trials sprinkle NaN, infinities and signed zeros.
                var v = new float[n];
                for (int i = 0; i < n; i++)
                    v[i] = trial > 1 && rng.Next(8) == 0 ? specials[rng.Next(specials.Length)] : rng.Next(-3, 4);
                Assert.Equal(Sampler.ArgMaxScalar(v), Sampler.ArgMax(v));
            }
        }
        Assert.Equal(0, Sampler.ArgMax([float.NegativeInfinity, float.NegativeInfinity]));
        Assert.Equal(2, Sampler.ArgMax([float.NaN, 1f, 2f, 2f]));
    }

    [Theory]
    [InlineData(1f, 0.9f, 0f, 0)]
    [InlineData(1f, 1f, 0.05f, 0)]
    [InlineData(0.7f, 0.95f, 0.05f, 40)]
    [InlineData(1f, 1f, 0f, 0)]
    public void A_NaN_logit_is_never_drawn_and_never_breaks_a_draw(float temperature, float topP, float minP, int topK)
    {
        var sampler = new Sampler(new SamplingParameters { Temperature = temperature, TopP = topP, MinP = minP, TopK = topK, Seed = 3 }, 4);
        for (int i = 0; i < 200; i++)
        {
            int token = sampler.Sample([1f, float.NaN, 2f, 0f]);
            Assert.NotEqual(1, token);
            Assert.InRange(token, 0, 3);
        }
        // A NaN where the best logit would be (the row's maximum is NaN) still leaves the others drawable.
        Assert.InRange(sampler.Sample([float.NaN, -1f, -2f, float.NaN]), 1, 2);
        // +∞ is the certain choice, as greedy reads it.
        Assert.Equal(3, sampler.Sample([1f, 2f, 0f, float.PositiveInfinity]));
    }

    [Fact]
    public void A_row_of_nothing_but_NaN_is_a_clear_error()
    {
        var sampler = new Sampler(new SamplingParameters { Temperature = 1, TopP = 0.9f, Seed = 1 }, 3);
        var e = Assert.Throws<InvalidOperationException>(() => sampler.Sample([float.NaN, float.NaN, float.NegativeInfinity]));
        Assert.Contains("NaN", e.Message);
    }
}

