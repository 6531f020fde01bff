namespace TokenFactory.Router.Routing;

/// <summary>A request as the router places it: its model, its prompts' shape, how many sequences it runs, its class and deadline.</summary>
public sealed record RouteRequest(string Model, PromptShape Shape, int Sequences, string Priority, long DeadlineTimestamp)
{
    /// <summary>Prompt tokens a replica holding <paramref name="matchedBlocks"/> of its blocks still has to compute.</summary>
    public long NewPrefillTokens(int matchedBlocks) => Math.Max(1, Shape.Tokens - (long)matchedBlocks * PromptShape.BlockTokens);
}
