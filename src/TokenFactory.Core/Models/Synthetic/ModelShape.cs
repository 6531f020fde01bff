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
    bool OutputInF16 = false,
    HybridLayout? Hybrid = null,
    PoolingType? EncoderPooling = null,
    MoeLayout? Moe = null,
    string? Family = null,
    int SlidingWindow = 0,
    YarnScaling? Yarn = null,
    DeltaNetLayout? DeltaNet = null,
    Gemma4Layout? Gemma4 = null)
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
        // Nemotron-H test shapes: every block kind (Mamba-2 M, attention *, squared-ReLU MLP -, experts E) at sizes a
        // test runs in milliseconds; the F16 vocabulary projection for the same reason as tiny's.
        new("nemotron-h-tiny", 256, 6, 4, 2, 512, 512, 10000f, 1e-5f, false, 64, OutputInF16: true,
            Hybrid: new("M-M*M-", SsmHeads: 8, SsmHeadDim: 32, SsmState: 32, SsmGroups: 2, ConvKernel: 4)),
        new("nemotron-h-moe-tiny", 256, 6, 4, 2, 128, 512, 10000f, 1e-5f, false, 64, OutputInF16: true,
            Hybrid: new("MEM*EM", SsmHeads: 8, SsmHeadDim: 32, SsmState: 32, SsmGroups: 2, ConvKernel: 4,
                Experts: 8, ExpertsUsed: 2, SharedFeedForwardLength: 256, ExpertWeightsScale: 2.5f)),
        // Six blocks, so gemma3's pattern has a global layer (every sixth) among its sliding ones.
        new("gemma3-tiny", 256, 6, 4, 2, 512, 512, 1000000f, 1e-6f, false, 64, OutputInF16: true, SlidingWindow: 8),
        // Gemma 3 4B (its config.json: 34 layers, 2560 wide, 8 heads / 4 KV of 256, 10240 feed-forward, a 1024-token window;
        // written with --arch gemma3, as any transformer shape may be).
        new("gemma3-4b", 2560, 34, 8, 4, 10240, 131072, 1000000f, 1e-6f, true, 256, SlidingWindow: 1024),
        // Qwen3 mixture of experts (qwen3moe): a test shape (8 experts, top 2) and Qwen3-30B-A3B (its config.json: 48 layers,
        // 2048 wide, 32 heads / 4 KV of 128, 128 experts of 768, top 8).
        new("qwen3moe-tiny", 256, 2, 4, 2, 512, 512, 10000f, 1e-6f, false, 64, OutputInF16: true, Moe: new(8, 2, 128)),
        new("qwen3-30b-a3b", 2048, 48, 32, 4, 6144, 40960, 1000000f, 1e-6f, false, 128, Moe: new(128, 8, 768)),
        // gpt-oss: a test shape (four blocks, sliding and full alternating over an 8-token window, YaRN ×8 over a 16-token original
        // context so a test's positions cross it), and the 20B and 120B (their config.json: 24 / 36 layers, 2880 wide, 64 heads / 8 KV
        // of 64, 32 / 128 experts of 2880, top 4, a 128-token window, YaRN ×32 over 4096, RoPE base 150000).
        new("gpt-oss-tiny", 256, 4, 4, 2, 128, 512, 150000f, 1e-5f, false, 64, OutputInF16: true, Moe: new(8, 4, 128),
            Family: "gpt-oss", SlidingWindow: 8, Yarn: new(8f, 16)),
        new("gpt-oss-20b", 2880, 24, 64, 8, 2880, 131072, 150000f, 1e-5f, false, 64, Moe: new(32, 4, 2880),
            Family: "gpt-oss", SlidingWindow: 128, Yarn: new(32f, 4096)),
        new("gpt-oss-120b", 2880, 36, 64, 8, 2880, 131072, 150000f, 1e-5f, false, 64, Moe: new(128, 4, 2880),
            Family: "gpt-oss", SlidingWindow: 128, Yarn: new(32f, 4096)),
        // Gemma 4: a test shape of six blocks (sliding, sliding, global, twice; the last three reading the first three's caches),
        // sliding heads of 64 against global ones of 128 that rotate a quarter and take their keys as values, an 8-token window and
        // 32-wide per-layer embeddings; and Gemma 4 E4B (its config.json: 42 layers, 2560 wide, 8 heads / 2 KV, heads of 256 sliding
        // and 512 global, five sliding layers to one global over a 512-token window, the last 18 sharing KV, 256-wide per-layer inputs).
        new("gemma4-tiny", 256, 6, 4, 1, 512, 512, 1000000f, 1e-6f, false, 128, OutputInF16: true, Family: "gemma4", SlidingWindow: 8,
            Gemma4: new("SSGSSG", SlidingHeadSize: 64, SlidingKvHeads: 2, SharedKvLayers: 3, PerLayerEmbedding: 32)),
        new("gemma4-moe-tiny", 256, 6, 4, 1, 512, 512, 1000000f, 1e-6f, false, 128, OutputInF16: true, Family: "gemma4", SlidingWindow: 8,
            Gemma4: new("SSGSSG", SlidingHeadSize: 64, SlidingKvHeads: 2, SharedKvLayers: 3, PerLayerEmbedding: 32, Experts: 8, ExpertsUsed: 2, ExpertFeedForward: 128)),
        new("gemma4-e4b", 2560, 42, 8, 2, 10240, 131072, 1000000f, 1e-6f, true, 512, Family: "gemma4", SlidingWindow: 512,
            Gemma4: new(string.Concat(Enumerable.Repeat("SSSSSG", 7)), SlidingHeadSize: 256, SlidingKvHeads: 2, SharedKvLayers: 18, PerLayerEmbedding: 256)),
        // Qwen3.5 (qwen35, qwen35moe): test shapes of eight blocks (DeltaNet ×3 then attention, twice), value heads tiling two key heads,
        // a quarter of each 64-wide attention head rotated; and Qwen3.5-35B-A3B (its config.json: 40 layers, 2048 wide, 16 heads / 2 KV
        // of 256, DeltaNet 16 key / 32 value heads of 128, 256 experts of 512 top 8 plus a 512-wide shared expert, RoPE base 10⁷ on 64 dims).
        new("qwen35-tiny", 256, 8, 4, 2, 512, 512, 10000000f, 1e-6f, false, 64, OutputInF16: true, Family: "qwen35",
            DeltaNet: new(KeyHeads: 2, ValueHeads: 4, HeadSize: 32, ConvKernel: 4, RopeDimensions: 16)),
        new("qwen35moe-tiny", 256, 8, 4, 2, 128, 512, 10000000f, 1e-6f, false, 64, OutputInF16: true, Moe: new(8, 2, 128), Family: "qwen35moe",
            DeltaNet: new(KeyHeads: 2, ValueHeads: 4, HeadSize: 32, ConvKernel: 4, RopeDimensions: 16, SharedFeedForwardLength: 128)),
        new("qwen35-35b-a3b", 2048, 40, 16, 2, 512, 262144, 10000000f, 1e-6f, false, 256, Moe: new(256, 8, 512), Family: "qwen35moe",
            DeltaNet: new(KeyHeads: 16, ValueHeads: 32, HeadSize: 128, ConvKernel: 4, RopeDimensions: 64, SharedFeedForwardLength: 512)),
        // BERT encoders (written with --arch bert and a WordPiece vocabulary such as the bert-bge fixture): a test shape
        // with mean pooling, and BAAI bge-small-en-v1.5 (its config.json: 12 layers, 384 wide, 12 heads, CLS pooling).
        new("bert-tiny", 128, 2, 4, 4, 512, 512, 0f, 1e-12f, true, EncoderPooling: PoolingType.Mean),
        new("bge-small", 384, 12, 12, 12, 1536, 512, 0f, 1e-12f, true, EncoderPooling: PoolingType.Cls),
        // NVIDIA Nemotron-H 4B (Megatron-Bridge model card: 52 blocks, 24 Mamba-2 / 24 MLP / 4 attention).
        new("nemotron-h-4b", 3072, 52, 32, 8, 12288, 8192, 10000f, 1e-5f, false, 128,
            Hybrid: new("M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-", SsmHeads: 112, SsmHeadDim: 64, SsmState: 128, SsmGroups: 8, ConvKernel: 4)),
        // NVIDIA Nemotron 3 Nano 30B-A3B (its config.json: 23 Mamba-2 / 23 MoE / 6 attention, 128 experts top-6 + 1 shared).
        new("nemotron-3-nano-30b-a3b", 2688, 52, 32, 2, 1856, 262144, 10000f, 1e-5f, false, 128,
            Hybrid: new("MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME", SsmHeads: 64, SsmHeadDim: 64, SsmState: 128, SsmGroups: 8, ConvKernel: 4,
                Experts: 128, ExpertsUsed: 6, SharedFeedForwardLength: 3712, ExpertWeightsScale: 2.5f)),
    ];

    public static ModelShape Find(string name) =>
        All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new TokenFactoryException($"Unknown shape '{name}'. Known shapes: {string.Join(", ", All.Select(s => s.Name))}.");

    public int ResolvedHeadSize => HeadSize ?? EmbeddingLength / HeadCount;

    /// <summary>The architecture a shape is written as by default: hybrid shapes have only one.</summary>
    public string? Architecture => Family ?? (EncoderPooling != null ? "bert" : Moe != null ? "qwen3moe" : Hybrid == null ? null : Hybrid.Experts > 0 ? "nemotron_h_moe" : "nemotron_h");
}

/// <summary>
/// The block pattern and Mamba-2 / expert geometry of a Nemotron-H shape. <see cref="Pattern"/> has one
/// character per block, as NVIDIA's configs write it: M Mamba-2, * attention, - MLP, E mixture of experts.
/// Experts are <see cref="ModelShape.FeedForwardLength"/> wide.
/// </summary>
public sealed record HybridLayout(
    string Pattern,
    int SsmHeads,
    int SsmHeadDim,
    int SsmState,
    int SsmGroups,
    int ConvKernel,
    int Experts = 0,
    int ExpertsUsed = 0,
    int SharedFeedForwardLength = 0,
    float ExpertWeightsScale = 1f)
{
    public int SsmInner => SsmHeads * SsmHeadDim;
}

/// <summary>The routed experts of a transformer mixture-of-experts shape (qwen3moe): SwiGLU experts, softmax top-k routing.</summary>
public sealed record MoeLayout(int Experts, int ExpertsUsed, int ExpertFeedForwardLength);

/// <summary>
/// Qwen3.5's gated DeltaNet geometry: <see cref="KeyHeads"/> query/key heads and <see cref="ValueHeads"/> value heads, all
/// <see cref="HeadSize"/> wide; every fourth block is attention, rotating its first <see cref="RopeDimensions"/> dimensions.
/// </summary>
public sealed record DeltaNetLayout(int KeyHeads, int ValueHeads, int HeadSize, int ConvKernel, int RopeDimensions, int SharedFeedForwardLength = 0,
    int FullAttentionInterval = 4)
{
    public int KeyDimension => KeyHeads * HeadSize;
    public int ValueDimension => ValueHeads * HeadSize;
    public int ConvChannels => 2 * KeyDimension + ValueDimension;
}

/// <summary>
/// Gemma 4's layout: per block S (sliding) or G (global) in <see cref="Pattern"/>; sliding heads of their own size and KV heads (global
/// ones are the shape's); the last <see cref="SharedKvLayers"/> blocks read earlier caches; per-layer embeddings this wide; global
/// blocks rotate <see cref="RotatedFraction"/> of their head (through <c>rope_freqs</c>) and use their keys as values.
/// </summary>
/// With <see cref="Experts"/>, every block also has that many GeGLU experts of <see cref="ExpertFeedForward"/> beside its MLP (26B-A4B).
public sealed record Gemma4Layout(string Pattern, int SlidingHeadSize, int SlidingKvHeads, int SharedKvLayers, int PerLayerEmbedding,
    float RotatedFraction = 0.25f, float SoftCap = 30f, int Experts = 0, int ExpertsUsed = 0, int ExpertFeedForward = 0);

/// <summary>YaRN RoPE scaling a shape is written with: <see cref="Factor"/> over an original context of <see cref="OriginalContext"/>.</summary>
public sealed record YarnScaling(float Factor, int OriginalContext);
