using TokenFactory.Gguf;
using TokenFactory.Models;

namespace TokenFactory.Planning;

/// <summary>
/// What the planner needs of a model: how many weights a step reads (the dense part every token uses, and routed experts
/// by how many a step's tokens touch), the FLOPs per token, the KV cache bytes per token, and the recurrent state of a
/// hybrid's Mamba layers. From a catalog entry (<see cref="ModelCatalog"/>) or read off a GGUF file's tensors.
/// </summary>
public sealed record ModelProfile
{
    public required string Name { get; init; }
    /// <summary>All weights, embedding table included: what must fit in memory.</summary>
    public required double TotalParameters { get; init; }
    /// <summary>Weights every step reads whatever its tokens: attention, dense and shared feed-forward, norms, the output head (not the input embedding table, of which only rows are read).</summary>
    public required double DenseParameters { get; init; }
    public required int Layers { get; init; }
    public required int Hidden { get; init; }
    public required int QueryHeads { get; init; }
    /// <summary>Width of one head's query-key dot product (MLA: the compressed latent plus its RoPE part).</summary>
    public required int AttentionDim { get; init; }
    /// <summary>Cache elements (keys and values) one token adds over all full-attention layers.</summary>
    public required double KvElementsPerToken { get; init; }
    /// <summary>Layers that attend (full or sliding): each adds attention FLOPs per cached token.</summary>
    public required int AttentionLayers { get; init; }
    /// <summary>Cache elements per token of sliding-window layers, which keep only <see cref="SlidingWindow"/> tokens.</summary>
    public double SlidingKvElementsPerToken { get; init; }
    public int SlidingWindow { get; init; }
    public int SlidingLayers { get; init; }
    public int RoutedExperts { get; init; }
    public int ExpertsPerToken { get; init; }
    public int MoeLayers { get; init; }
    /// <summary>Weights of one routed expert in one layer.</summary>
    public double ExpertParameters { get; init; }
    /// <summary>
    /// Weights of the output head (vocabulary × width; a tied head is the embedding table), part of <see cref="DenseParameters"/>.
    /// A step multiplies it only for the rows that give logits (each decoding sequence, and a prompt's last token), not for
    /// every prompt token; 0 (catalog entries, where it is a few percent of the weights): counted with every token.
    /// </summary>
    public double OutputHeadParameters { get; init; }
    /// <summary>Recurrent state per sequence (Mamba layers), read and written by every decode step, in bytes.</summary>
    public double RecurrentStateBytes { get; init; }
    public int ContextLength { get; init; } = 131072;
    public string? Source { get; init; }

    /// <summary>Weights one token's forward pass multiplies: dense plus its experts.</summary>
    public double ActiveParameters => DenseParameters + MoeLayers * ExpertsPerToken * ExpertParameters;

    public bool IsMoe => RoutedExperts > 0;

    /// <summary>
    /// Elements a prompt token's work outside the weight multiplications touches, estimated as the sum of rows and columns of
    /// the matrices it multiplies (each product's input is normed, quantized or activated, and its output written): seven
    /// matrices of a block's width each (q, k, v, o, gate, up, down), plus their parameters over the width for the other side;
    /// not the output head (a prompt token gives no logits). Within 1 % of the exact sum for dense blocks (qwen3-0.6b 631 K,
    /// tinyllama 788 K, both without their heads); a mixture's or a recurrent mixer's blocks have other counts of matrices, which
    /// the estimate does not follow.
    /// </summary>
    public double ActivationElementsPerToken => 7.0 * Layers * Hidden + (ActiveParameters - OutputHeadParameters) / Math.Max(1, Hidden);

    /// <summary>Weights a token multiplies apart from the experts and the output head.</summary>
    public double BodyParameters => DenseParameters - OutputHeadParameters;

    /// <summary>
    /// Weights a step of <paramref name="tokens"/> tokens reads: the dense part once, and per MoE layer the experts its
    /// tokens touch — E·(1 − (1 − k/E)^T) of them on average for T tokens choosing k of E independently.
    /// </summary>
    public double ParametersReadPerStep(double tokens) => DenseParameters + ExpertParametersReadPerStep(tokens);

    /// <summary>The routed-expert part of <see cref="ParametersReadPerStep"/>.</summary>
    public double ExpertParametersReadPerStep(double tokens) => MoeLayers * ExpertsTouched(tokens) * ExpertParameters;

    /// <summary>How many of a mixture layer's routed experts a step of <paramref name="tokens"/> tokens uses, expected under uniform routing.</summary>
    public double ExpertsTouched(double tokens) =>
        !IsMoe || tokens <= 0 ? 0 : RoutedExperts * (1 - Math.Pow(1 - (double)ExpertsPerToken / RoutedExperts, tokens));

    /// <summary>Weights of all routed experts together (what expert parallelism spreads over a replica's devices).</summary>
    public double RoutedExpertParameters => MoeLayers * RoutedExperts * ExpertParameters;

    /// <summary>KV cache bytes of one sequence holding <paramref name="tokens"/> tokens.</summary>
    public double KvBytes(double tokens, double bytesPerElement) =>
        (KvElementsPerToken * tokens + SlidingKvElementsPerToken * Math.Min(tokens, SlidingWindow > 0 ? SlidingWindow : tokens)) * bytesPerElement;

    /// <summary>Attention FLOPs of one token attending to <paramref name="context"/> cached tokens (QK and PV, 2 FLOPs a multiply-add).</summary>
    public double AttentionFlops(double context)
    {
        double full = AttentionLayers - SlidingLayers, sliding = SlidingLayers;
        double window = SlidingWindow > 0 ? Math.Min(context, SlidingWindow) : context;
        return 4.0 * QueryHeads * AttentionDim * (full * context + sliding * window);
    }

    /// <summary>The shape of a GGUF file: parameters summed over its tensors, experts from the stacked expert tensors.</summary>
    public static ModelProfile FromGguf(string path)
    {
        using var file = GgufFile.Open(path);
        var c = ModelConfig.FromMetadata(file.Metadata);
        double total = 0, embedding = 0, routed = 0;
        bool tied = file.FindTensor("output.weight") is null;
        foreach (var t in file.Tensors)
        {
            total += t.ElementCount;
            if (t.Name == "token_embd.weight")
                embedding = t.ElementCount;
            else if (t.Name.Contains("_exps.", StringComparison.Ordinal))
                routed += t.ElementCount;
        }
        int attentionLayers = c.CacheLayerCount;
        var moe = c.Moe;
        // Nemotron-H: its feed-forward blocks are the expert blocks; qwen3moe, qwen35moe, gpt-oss: every block's feed-forward is.
        int moeLayers = moe is null ? 0 : c.IsNemotronH ? c.LayerKindsOverride!.Count(k => k == LayerKind.FeedForward) : c.BlockCount;
        double expert = moe is not null && moeLayers > 0 ? routed / (moeLayers * moe.ExpertCount) : 0;
        double state = c.HasRecurrentState ? (double)c.RecurrentLayerCount * (c.Ssm!.ConvStateLength + c.Ssm.SsmStateLength) * sizeof(float) : 0;
        return new ModelProfile
        {
            Name = Path.GetFileNameWithoutExtension(path),
            TotalParameters = total,
            // A tied output head is the embedding table, multiplied in full every step.
            DenseParameters = total - routed - (tied ? 0 : embedding),
            OutputHeadParameters = tied ? embedding : file.FindTensor("output.weight")!.ElementCount,
            Layers = c.BlockCount,
            Hidden = c.EmbeddingLength,
            QueryHeads = c.HeadCount,
            AttentionDim = c.HeadSize,
            KvElementsPerToken = 2.0 * attentionLayers * c.KvDimension,
            AttentionLayers = attentionLayers,
            RoutedExperts = moe?.ExpertCount ?? 0,
            ExpertsPerToken = moe?.UsedCount ?? 0,
            MoeLayers = moe is null ? 0 : moeLayers,
            ExpertParameters = expert,
            RecurrentStateBytes = state,
            ContextLength = c.ContextLength,
            Source = path,
        };
    }
}
