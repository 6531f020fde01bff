namespace TokenFactory.Engine;

/// <summary>
/// How the next token is chosen. Defaults follow OpenAI's API (temperature 1, no top-k/min-p); a
/// temperature of 0 means greedy. Penalties look back over the last <see cref="PenaltyWindow"/> tokens.
/// </summary>
public sealed record SamplingParameters
{
    public static SamplingParameters Greedy { get; } = new() { Temperature = 0 };

    public float Temperature { get; init; } = 1f;
    /// <summary>0 disables.</summary>
    public int TopK { get; init; }
    /// <summary>1 disables.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>0 disables.</summary>
    public float MinP { get; init; }
    /// <summary>1 disables (llama.cpp's repeat_penalty).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    public float FrequencyPenalty { get; init; }
    public float PresencePenalty { get; init; }
    public int PenaltyWindow { get; init; } = 64;
    /// <summary>Null picks a random seed; a fixed seed makes a run reproducible.</summary>
    public ulong? Seed { get; init; }

    public bool IsGreedy => Temperature <= 0;

    /// <summary>
    /// Added to the logits of these token ids before anything else (OpenAI's <c>logit_bias</c>): -100 to 100, where
    /// -100 in effect bans a token and 100 in effect forces it.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>The largest bias, either way (OpenAI's bound).</summary>
    public const float MaxLogitBias = 100;

    /// <summary>Whether any penalty changes a logit (1, 0, 0 leave them as they are).</summary>
    public bool HasPenalties => RepetitionPenalty != 1f || FrequencyPenalty != 0f || PresencePenalty != 0f;

    /// <summary>Whether the logits are changed before sampling at all: penalties or biases.</summary>
    public bool AdjustsLogits => HasPenalties || LogitBias is { Count: > 0 };

    /// <summary>Throws <see cref="InvalidGenerationRequestException"/> naming the first invalid parameter.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0 || Temperature > 100)
            throw Invalid(GenerationParameter.Temperature, Temperature, "between 0 and 100");
        if (TopK < 0)
            throw Invalid(GenerationParameter.TopK, TopK, ">= 0");
        if (float.IsNaN(TopP) || TopP <= 0 || TopP > 1)
            throw Invalid(GenerationParameter.TopP, TopP, "in (0, 1]");
        if (float.IsNaN(MinP) || MinP < 0 || MinP > 1)
            throw Invalid(GenerationParameter.MinP, MinP, "in [0, 1]");
        if (float.IsNaN(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw Invalid(GenerationParameter.RepetitionPenalty, RepetitionPenalty, "> 0");
        if (float.IsNaN(FrequencyPenalty) || FrequencyPenalty < -2 || FrequencyPenalty > 2)
            throw Invalid(GenerationParameter.FrequencyPenalty, FrequencyPenalty, "between -2 and 2");
        if (float.IsNaN(PresencePenalty) || PresencePenalty < -2 || PresencePenalty > 2)
            throw Invalid(GenerationParameter.PresencePenalty, PresencePenalty, "between -2 and 2");
        if (PenaltyWindow < 0)
            throw Invalid(GenerationParameter.PenaltyWindow, PenaltyWindow, ">= 0");
        foreach (var (_, bias) in LogitBias ?? new Dictionary<int, float>())
        {
            if (float.IsNaN(bias) || bias < -MaxLogitBias || bias > MaxLogitBias)
                throw Invalid(GenerationParameter.LogitBias, bias, $"between {-MaxLogitBias} and {MaxLogitBias}");
        }
    }

    private static InvalidGenerationRequestException Invalid(GenerationParameter parameter, double value, string requirement) =>
        new(parameter, value, requirement);
}
