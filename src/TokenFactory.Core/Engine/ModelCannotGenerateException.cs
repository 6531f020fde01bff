namespace TokenFactory.Engine;

/// <summary>A generation request reached a model that only computes embeddings (an encoder such as BERT).</summary>
public sealed class ModelCannotGenerateException(string architecture)
    : TokenFactoryException($"This model ({architecture}) is an embedding model: it serves /v1/embeddings, not text generation.")
{
    public string Architecture { get; } = architecture;
}
