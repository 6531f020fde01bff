using System.Buffers;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models.Synthetic;

/// <summary>
/// Writes a random-weight model of a named shape, with the tokenizer metadata copied from a
/// vocabulary GGUF. The same seed gives the same bytes on any machine: weights come from a
/// counter-based integer generator (no platform math functions), so llama.cpp fixtures recorded
/// from one file stay valid for the file a test regenerates.
/// </summary>
public static partial class SyntheticModelWriter
{
    public static IReadOnlyList<string> Architectures { get; } = ["llama", "qwen2", "qwen3", "qwen3moe", "gpt-oss", "mistral3", "gemma3", "gemma4", "qwen35", "qwen35moe", "nemotron_h", "nemotron_h_moe", "bert"];

    public static IReadOnlyList<GgmlType> WeightTypes { get; } =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
         GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.MXFP4];

    /// <summary>The mixed-type files <c>--type</c> also takes, as llama.cpp's quantizer writes them.</summary>
    public static IReadOnlyList<string> Mixtures { get; } = ["Q4_K_M", "Q5_K_M"];

    /// <param name="progress">Called with (bytes written, total bytes) as tensors are written.</param>
    public static void Write(string architecture, ModelShape shape, GgmlType type, GgufMetadata vocabulary, string outputPath,
        ulong seed = 1, Action<long, long>? progress = null)
        => Write(architecture, shape, type, mixture: null, vocabulary, outputPath, seed, progress);

    /// <summary>
    /// As the other overload; <paramref name="mixture"/> "Q4_K_M" ("Q5_K_M") writes Q4_K (Q5_K) weights except, as llama.cpp's mixtures do,
    /// the output matrix and the attention-value and feed-forward-down matrices (experts' too) of the layers it gives more bits
    /// (<see cref="MoreBits"/>) in Q6_K (transformer and qwen3moe shapes).
    /// </summary>
    /// <param name="pooling">Written as <c>{arch}.pooling_type</c> (a decoder embedding model, as Qwen3-Embedding declares); transformer shapes only.</param>
    public static void Write(string architecture, ModelShape shape, GgmlType type, string? mixture, GgufMetadata vocabulary, string outputPath,
        ulong seed = 1, Action<long, long>? progress = null, PoolingType? pooling = null)
    {
        if (mixture != null)
        {
            if (!Mixtures.Contains(mixture))
                throw new TokenFactoryException($"Unknown mixture '{mixture}'. Supported: {string.Join(", ", Mixtures)}.");
            if ((shape.Architecture != null && shape.Architecture is not ("qwen3moe" or "qwen35" or "qwen35moe" or "gemma4" or "nemotron_h" or "nemotron_h_moe"))
                || architecture is "gpt-oss" or "bert")
                throw new TokenFactoryException($"{mixture} is not written for {architecture} {shape.Name} (gpt-oss ships as MXFP4; BERT files as they are).");
            type = mixture == "Q5_K_M" ? GgmlType.Q5_K : GgmlType.Q4_K;
        }
        if (!Architectures.Contains(architecture))
            throw new TokenFactoryException($"Unknown architecture '{architecture}'. Supported: {string.Join(", ", Architectures)}.");
        if (!WeightTypes.Contains(type))
            throw new TokenFactoryException($"Cannot synthesize {type} weights. Supported: {string.Join(", ", WeightTypes)}.");
        var tokens = vocabulary.GetArrayOrNull<string>("tokenizer.ggml.tokens")
            ?? throw new TokenFactoryException($"{vocabulary.Source}: no tokenizer.ggml.tokens; pass a vocabulary GGUF.");
        if (shape.Architecture != architecture && (IsTransformerMoe(shape.Architecture) || IsTransformerMoe(architecture)))
            throw new TokenFactoryException(IsTransformerMoe(shape.Architecture)
                ? $"Shape '{shape.Name}' is a {shape.Architecture} shape; write it with --arch {shape.Architecture}."
                : $"Architecture {architecture} needs one of its own shapes ({string.Join(", ", ModelShape.All.Where(s => s.Architecture == architecture).Select(s => s.Name))}).");
        if (architecture == "gemma4")
        {
            if (shape.Architecture != architecture)
                throw new TokenFactoryException(shape.Architecture == null
                    ? $"Architecture {architecture} needs one of its own shapes ({string.Join(", ", ModelShape.All.Where(s => s.Architecture == architecture).Select(s => s.Name))})."
                    : $"Shape '{shape.Name}' is a {shape.Architecture} shape; write it with --arch {shape.Architecture}.");
            if (pooling != null)
                throw new TokenFactoryException($"--pooling is not written for {architecture}.");
            Save(BuildGemma4(shape, type, mixture, vocabulary, tokens.Length, seed), outputPath, progress);
            return;
        }
        if (architecture is "qwen35" or "qwen35moe")
        {
            if (shape.Architecture != architecture)
                throw new TokenFactoryException(shape.Architecture == null
                    ? $"Architecture {architecture} needs one of its own shapes ({string.Join(", ", ModelShape.All.Where(s => s.Architecture == architecture).Select(s => s.Name))})."
                    : $"Shape '{shape.Name}' is a {shape.Architecture} shape; write it with --arch {shape.Architecture}.");
            if (pooling != null)
                throw new TokenFactoryException($"--pooling is not written for {architecture}.");
            Save(BuildQwen35(architecture, shape, type, mixture, vocabulary, tokens.Length, seed), outputPath, progress);
            return;
        }
        if (architecture == "gpt-oss")
        {
            if (pooling != null)
                throw new TokenFactoryException("--pooling is not written for gpt-oss.");
            Save(BuildGptOss(shape, type, vocabulary, tokens.Length, seed), outputPath, progress);
            return;
        }
        if ((shape.Architecture != null && !IsTransformerMoe(shape.Architecture)) || ModelConfig.IsHybridArchitecture(architecture) || architecture == "bert")
        {
            if (shape.Architecture != architecture)
                throw new TokenFactoryException(shape.Architecture == null
                    ? $"Shape '{shape.Name}' is a transformer shape; architecture '{architecture}' needs one of its own shapes ({string.Join(", ", ModelShape.All.Where(s => s.Architecture == architecture).Select(s => s.Name))})."
                    : $"Shape '{shape.Name}' is a {shape.Architecture} shape; write it with --arch {shape.Architecture}.");
            if (pooling != null)
                throw new TokenFactoryException($"--pooling is written for transformer shapes only; {shape.Name}'s pooling is its own.");
            Save(architecture == "bert" ? BuildBert(shape, type, vocabulary, tokens.Length, seed)
                : BuildHybrid(architecture, shape, type, mixture, vocabulary, tokens.Length, seed), outputPath, progress);
            return;
        }

        var w = new GgufWriter();
        var m = w.Metadata;
        int headSize = shape.ResolvedHeadSize;
        SetGeneral(m, architecture, shape, mixture ?? type.ToString(), (uint)(mixture == "Q5_K_M" ? 17 : FileType(type)), seed);
        string a = architecture;
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)shape.EmbeddingLength));
        m.Set($"{a}.block_count", GgufValue.Of((uint)shape.BlockCount));
        m.Set($"{a}.feed_forward_length", GgufValue.Of((uint)shape.FeedForwardLength));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.head_count_kv", GgufValue.Of((uint)shape.KvHeadCount));
        m.Set($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.rope.freq_base", GgufValue.Of(shape.RopeFreqBase));
        m.Set($"{a}.rope.dimension_count", GgufValue.Of((uint)headSize));
        if (shape.HeadSize != null)
        {
            m.Set($"{a}.attention.key_length", GgufValue.Of((uint)headSize));
            m.Set($"{a}.attention.value_length", GgufValue.Of((uint)headSize));
        }
        m.Set($"{a}.vocab_size", GgufValue.Of((uint)tokens.Length));
        if (architecture == "gemma3")
        {
            // Gemma 3's interleaving; the test shapes' window is 8 tokens, so a test's prompts overrun it.
            m.Set($"{a}.attention.sliding_window", GgufValue.Of((uint)(shape.SlidingWindow > 0 ? shape.SlidingWindow : 8)));
            m.Set($"{a}.rope.freq_base_swa", GgufValue.Of(10000f));
        }
        if (architecture == "mistral3")
        {
            // Ministral 3's long-context setup, scaled down so a test's positions cross it: YaRN ×16 over a 16-token original
            // context, and the attention temperature that grows every 16 positions.
            m.Set($"{a}.rope.scaling.type", GgufValue.Of("yarn"));
            m.Set($"{a}.rope.scaling.factor", GgufValue.Of(16f));
            m.Set($"{a}.rope.scaling.original_context_length", GgufValue.Of(16u));
            m.Set($"{a}.rope.scaling.yarn_beta_fast", GgufValue.Of(32f));
            m.Set($"{a}.rope.scaling.yarn_beta_slow", GgufValue.Of(1f));
            m.Set($"{a}.attention.temperature_scale", GgufValue.Of(0.1f));
        }
        if (shape.Moe is { } layout)
        {
            m.Set($"{a}.expert_count", GgufValue.Of((uint)layout.Experts));
            m.Set($"{a}.expert_used_count", GgufValue.Of((uint)layout.ExpertsUsed));
            m.Set($"{a}.expert_feed_forward_length", GgufValue.Of((uint)layout.ExpertFeedForwardLength));
        }
        if (pooling != null)
            m.Set($"{a}.pooling_type", GgufValue.Of((uint)pooling.Value));
        CopyTokenizer(m, vocabulary);

        int e = shape.EmbeddingLength, q = shape.HeadCount * headSize, kv = shape.KvHeadCount * headSize, f = shape.FeedForwardLength;
        var rng = new WeightGenerator(seed);
        // Embeddings with unit spread and projections scaled by 1/sqrt(fan-in) keep activations O(1);
        // the output projection is scaled up so logits spread over several units and the greedy
        // choice is decided by clear margins, not by rounding noise.
        ulong embeddingStream = rng.Next();
        AddMatrix(w, "token_embd.weight", e, tokens.Length, type, embeddingStream, 1.0f);
        AddVector(w, "output_norm.weight", e, rng.Next(), 1f, 0.1f);
        bool mixed = mixture != null;
        GgmlType MoreBitsType(int layer) => mixed && MoreBits(layer, shape.BlockCount) ? GgmlType.Q6_K : type;
        if (!shape.TiedOutput)
        {
            var outputType = shape.OutputInF16 && type is not (GgmlType.F32 or GgmlType.F16) ? GgmlType.F16 : mixed ? GgmlType.Q6_K : type;
            AddOutput(w, e, tokens.Length, outputType, embeddingStream, rng.Next());
        }
        for (int l = 0; l < shape.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            AddVector(w, p + "attn_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddMatrix(w, p + "attn_q.weight", e, q, type, rng.Next(), 1.5f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_k.weight", e, kv, type, rng.Next(), 1.5f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_v.weight", e, kv, MoreBitsType(l), rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_output.weight", q, e, type, rng.Next(), 0.5f / MathF.Sqrt(q));
            if (architecture == "qwen2")
            {
                AddVector(w, p + "attn_q.bias", q, rng.Next(), 0f, 0.1f);
                AddVector(w, p + "attn_k.bias", kv, rng.Next(), 0f, 0.1f);
                AddVector(w, p + "attn_v.bias", kv, rng.Next(), 0f, 0.1f);
            }
            if (architecture is "qwen3" or "qwen3moe" or "gemma3")
            {
                AddVector(w, p + "attn_q_norm.weight", headSize, rng.Next(), 1f, 0.1f);
                AddVector(w, p + "attn_k_norm.weight", headSize, rng.Next(), 1f, 0.1f);
            }
            if (architecture == "gemma3")
                AddVector(w, p + "post_attention_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddVector(w, p + "ffn_norm.weight", e, rng.Next(), 1f, 0.1f);
            if (architecture == "gemma3")
                AddVector(w, p + "post_ffw_norm.weight", e, rng.Next(), 1f, 0.1f);
            if (shape.Moe is { } moe)
            {
                // Router logits spread over a few units so top-k choices are clear; experts stacked [columns, rows, experts].
                int x = moe.Experts, ef = moe.ExpertFeedForwardLength;
                AddMatrix(w, p + "ffn_gate_inp.weight", e, x, GgmlType.F32, rng.Next(), 3f / MathF.Sqrt(e));
                AddMatrix(w, p + "ffn_gate_exps.weight", e, ef * x, type, rng.Next(), 1f / MathF.Sqrt(e), dims: [e, ef, x]);
                AddMatrix(w, p + "ffn_up_exps.weight", e, ef * x, type, rng.Next(), 1f / MathF.Sqrt(e), dims: [e, ef, x]);
                // A mixture gives the experts' down matrices of its chosen layers more bits, as llama.cpp's does any ffn_down.
                AddMatrix(w, p + "ffn_down_exps.weight", ef, e * x, MoreBitsType(l), rng.Next(), 0.5f / MathF.Sqrt(ef), dims: [ef, e, x]);
                continue;
            }
            AddMatrix(w, p + "ffn_gate.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_up.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_down.weight", f, e, MoreBitsType(l), rng.Next(), 0.5f / MathF.Sqrt(f));
        }

        Save(w, outputPath, progress);
    }

    /// <summary>The <c>general.*</c> keys every synthetic file starts with (first, so files keep their bytes and fixtures their hashes).</summary>
    private static void SetGeneral(GgufMetadata m, string architecture, ModelShape shape, string typeName, uint fileType, ulong seed)
    {
        m.Set("general.architecture", GgufValue.Of(architecture));
        m.Set("general.name", GgufValue.Of($"synthetic {architecture} {shape.Name} {typeName} seed {seed}"));
        m.Set("general.file_type", GgufValue.Of(fileType));
    }

    /// <summary>The vocabulary file's <c>tokenizer.*</c> keys, as they are.</summary>
    private static void CopyTokenizer(GgufMetadata m, GgufMetadata vocabulary)
    {
        foreach (var (key, value) in vocabulary)
        {
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal))
                m.Set(key, value);
        }
    }

    private static bool IsTransformerMoe(string? architecture) => architecture is "qwen3moe" or "gpt-oss";

    private static void Save(GgufWriter w, string outputPath, Action<long, long>? progress)
    {
        long total = w.Tensors.Sum(t => t.ByteSize), written = 0;
        var dir = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (dir != null)
            Directory.CreateDirectory(dir);
        string temp = outputPath + ".partial";
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var counting = new ProgressStream(fs, n => progress?.Invoke(written += n, total));
            w.Write(counting);
        }
        File.Move(temp, outputPath, overwrite: true);
    }

    /// <summary>
    /// The layers a Q4_K_M or Q5_K_M file stores attention values and feed-forward down in Q6_K: the first and last eighth, and
    /// every third layer between them.
    /// </summary>
    public static bool MoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>Picks the requested type if the row length allows its block size, else Q8_0, else F16 (as llama.cpp's quantizer falls back).</summary>
    public static GgmlType TypeFor(GgmlType requested, int rowLength)
    {
        foreach (var t in new[] { requested, GgmlType.Q8_0, GgmlType.F16 })
        {
            if (rowLength % GgmlTypeInfo.BlockSize(t) == 0)
                return t;
        }
        return GgmlType.F32;
    }

    /// <param name="dims">The stored shape when it is not [columns, rows] (experts: [columns, rows / experts, experts]).</param>
    internal static void AddMatrix(GgufWriter w, string name, int columns, int rows, GgmlType requested, ulong stream, float std,
        long[]? dims = null, Func<GgmlType, int, GgmlType>? typeFor = null)
    {
        var type = (typeFor ?? TypeFor)(requested, columns);
        w.AddTensor(name, dims ?? [columns, rows], type, s =>
        {
            int rowBytes = (int)GgmlTypeInfo.RowSize(type, columns);
            const int RowsPerChunk = 64;
            var floats = ArrayPool<float>.Shared.Rent(columns * RowsPerChunk);
            var bytes = ArrayPool<byte>.Shared.Rent(rowBytes * RowsPerChunk);
            try
            {
                for (int r0 = 0; r0 < rows; r0 += RowsPerChunk)
                {
                    int n = Math.Min(RowsPerChunk, rows - r0);
                    Parallel.For(0, n, i =>
                    {
                        var row = floats.AsSpan(i * columns, columns);
                        WeightGenerator.Fill(stream, (ulong)(r0 + i), row, 0f, std);
                        Quantizer.QuantizeRow(type, row, bytes.AsSpan(i * rowBytes, rowBytes));
                    });
                    s.Write(bytes, 0, n * rowBytes);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(floats);
                ArrayPool<byte>.Shared.Return(bytes);
            }
        });
    }

    /// <summary>
    /// The vocabulary projection of an untied model: row j is token π⁻¹(j)'s embedding plus noise, so
    /// the model "predicts" a fixed successor of each token with a wide margin (like a trained model's
    /// confident steps) while attention and the FFN still shape every logit. Without this, random
    /// weights give top-two gaps of 0.001, and any engine's last-bit differences decide the argmax.
    /// </summary>
    internal static void AddOutput(GgufWriter w, int columns, int rows, GgmlType requested, ulong embeddingStream, ulong noiseStream)
    {
        var type = TypeFor(requested, columns);
        // An odd multiplier is a bijection modulo a power of two; for other vocabulary sizes fall back
        // to the first coprime multiplier.
        int multiplier = 5;
        while (Gcd(multiplier, rows) != 1)
            multiplier++;
        var successorOf = new int[rows];
        for (int i = 0; i < rows; i++)
            successorOf[(int)(((long)i * multiplier + 1) % rows)] = i;
        float alpha = 0.8f / MathF.Sqrt(columns), noise = 1.5f / MathF.Sqrt(columns);
        w.AddTensor("output.weight", [columns, rows], type, s =>
        {
            int rowBytes = (int)GgmlTypeInfo.RowSize(type, columns);
            var row = new float[columns];
            var extra = new float[columns];
            var bytes = new byte[rowBytes];
            for (int j = 0; j < rows; j++)
            {
                WeightGenerator.Fill(embeddingStream, (ulong)successorOf[j], row, 0f, alpha);
                WeightGenerator.Fill(noiseStream, (ulong)j, extra, 0f, noise);
                for (int i = 0; i < columns; i++)
                    row[i] += extra[i];
                Quantizer.QuantizeRow(type, row, bytes);
                s.Write(bytes);
            }
        });
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    internal static void AddVector(GgufWriter w, string name, int length, ulong stream, float mean, float std, long[]? dims = null,
        Action<float[]>? adjust = null)
    {
        var values = new float[length];
        WeightGenerator.Fill(stream, 0, values, mean, std);
        adjust?.Invoke(values);
        var bytes = new byte[length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        w.AddTensor(name, dims ?? [length], GgmlType.F32, bytes);
    }

    // llama_ftype ids: the "mostly X" file type llama.cpp reports.
    internal static int FileType(GgmlType t) => t switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q8_0 => 7,
        GgmlType.Q4_K => 15,
        GgmlType.Q5_K => 16,
        GgmlType.Q6_K => 18,
        GgmlType.IQ4_NL => 25,
        GgmlType.IQ4_XS => 30,
        GgmlType.MXFP4 => 38,
        _ => 0,
    };
}
