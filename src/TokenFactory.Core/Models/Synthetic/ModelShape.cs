namespace TokenFactory.Models.Synthetic;

/// <summary>
/// The hyperparameters of a real model family member, so synthetic random-weight files have the
/// exact tensor shapes (and so the exact memory traffic) of the real thing.
/// </summary>
public sealed record ModelShape(
    string Name,
    int EmbeddingLength,
    int BlockCount,
    int HeadCount,
    int KvHeadCount,
    int FeedForwardLength,
    int ContextLength,
    float RopeFreqBase,
    float RmsEpsilon,
    bool TiedOutput,
    int? HeadSize = null,
    bool OutputInF16 = false)
{
    public static IReadOnlyList<ModelShape> All { get; } =
    [
        // Small enough that a test builds and runs it in well under a second; K-quant friendly (256-multiples).
        // Its vocabulary projection stays F16 (llama.cpp's --leave-output-tensor): with 8-bit activations
        // there, one last-bit difference upstream can flip a rounding and move a logit by ~0.05, more than
        // the top-two gap on random weights, and the llama.cpp parity fixtures are recorded on this shape.
        new("tiny", 256, 2, 4, 2, 512, 512, 10000f, 1e-5f, false, OutputInF16: true),
        new("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 2048, 10000f, 1e-5f, false),
        new("llama-3.2-1b", 2048, 16, 32, 8, 8192, 8192, 500000f, 1e-5f, true),
        new("qwen2.5-0.5b", 896, 24, 14, 2, 4864, 32768, 1000000f, 1e-6f, true),
        new("qwen3-0.6b", 1024, 28, 16, 8, 3072, 40960, 1000000f, 1e-6f, true, 128),
    ];

    public static ModelShape Find(string name) =>
        All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new TokenFactoryException($"Unknown shape '{name}'. Known shapes: {string.Join(", ", All.Select(s => s.Name))}.");

    public int ResolvedHeadSize => HeadSize ?? EmbeddingLength / HeadCount;
}
