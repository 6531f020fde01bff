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

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid parameter.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0 || Temperature > 100)
            throw new ArgumentException("temperature must be between 0 and 100", "temperature");
        if (TopK < 0)
            throw new ArgumentException("top_k must be >= 0", "top_k");
        if (float.IsNaN(TopP) || TopP <= 0 || TopP > 1)
            throw new ArgumentException("top_p must be in (0, 1]", "top_p");
        if (float.IsNaN(MinP) || MinP < 0 || MinP > 1)
            throw new ArgumentException("min_p must be in [0, 1]", "min_p");
        if (float.IsNaN(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw new ArgumentException("repetition_penalty must be > 0", "repetition_penalty");
        if (float.IsNaN(FrequencyPenalty) || FrequencyPenalty < -2 || FrequencyPenalty > 2)
            throw new ArgumentException("frequency_penalty must be between -2 and 2", "frequency_penalty");
        if (float.IsNaN(PresencePenalty) || PresencePenalty < -2 || PresencePenalty > 2)
            throw new ArgumentException("presence_penalty must be between -2 and 2", "presence_penalty");
        if (PenaltyWindow < 0)
            throw new ArgumentException("penalty window must be >= 0", "repeat_last_n");
    }
}
