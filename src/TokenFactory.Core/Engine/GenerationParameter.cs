namespace TokenFactory.Engine;

/// <summary>The parts of a <see cref="GenerationRequest"/> the engine checks, named as Core names them (hosts map them to their own words).</summary>
public enum GenerationParameter
{
    /// <summary><see cref="GenerationRequest.PromptTokens"/>: empty, or a token id outside the vocabulary.</summary>
    Prompt,
    MaxTokens,
    Logprobs,
    Temperature,
    TopK,
    TopP,
    MinP,
    RepetitionPenalty,
    FrequencyPenalty,
    PresencePenalty,
    PenaltyWindow,
    /// <summary><see cref="SamplingParameters.LogitBias"/>: a bias out of range, or a token id outside the vocabulary.</summary>
    LogitBias,
}
