namespace TokenFactory.Engine;

/// <summary>Prompt plus requested completion does not fit the context window.</summary>
public sealed class ContextLengthExceededException(int promptTokens, int maxTokens, int contextLength)
    : TokenFactoryException($"This model's context is {contextLength} tokens, but the request needs {promptTokens + maxTokens} " +
        $"({promptTokens} in the prompt + {maxTokens} to generate). Shorten the prompt or generate fewer tokens.")
{
    public int PromptTokens { get; } = promptTokens;
    public int MaxTokens { get; } = maxTokens;
    public int ContextLength { get; } = contextLength;
}
