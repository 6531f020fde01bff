namespace TokenFactory.Server.Contracts;

public sealed class ModelList
{
    public string Object { get; init; } = "list";
    public required List<ModelCard> Data { get; init; }
}

public sealed class ModelCard
{
    public required string Id { get; init; }
    public string Object { get; init; } = "model";
    public required long Created { get; init; }
    public string OwnedBy { get; init; } = "tokenfactory";
    /// <summary>Not in OpenAI's shape; llama.cpp reports similar facts under <c>meta</c>.</summary>
    public ModelMeta? Meta { get; init; }
}

public sealed class ModelMeta
{
    public required string Architecture { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }
    public required bool HasOwnChatTemplate { get; init; }
    public required string File { get; init; }
}
