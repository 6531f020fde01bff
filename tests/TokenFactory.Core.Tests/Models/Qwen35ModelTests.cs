using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

/// <summary>Qwen3.5 files (qwen35, qwen35moe): what the loader reads from them, and the clear errors for what it cannot.</summary>
public sealed class Qwen35ModelTests
{
    private const string Dense = "synth-qwen35-qwen35-tiny-F32-seed1";
    private const string Moe = "synth-qwen35moe-qwen35moe-tiny-F32-seed1";

    private static GgufFile Rewrite(string name, Action<GgufMetadata>? metadata = null, Func<GgufTensorInfo, GgufTensorInfo?>? tensor = null)
    {
        using var original = GgufFile.Open(SyntheticModels.Get(name));
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        metadata?.Invoke(w.Metadata);
        foreach (var t in original.Tensors)
        {
            var kept = tensor == null ? t : tensor(t);
            if (kept != null)
                w.AddTensor(kept.Name, kept.Dimensions, kept.Type, original.TensorBytes(t).ToArray());
        }
        return GgufFile.FromBytes(w.ToBytes(), "m.gguf");
    }

    [Fact]
    public void Tiny_file_reads_three_deltanet_blocks_to_one_attention_block_and_their_geometry()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(Dense));
        var c = model.Config;
        var d = LayerKind.DeltaNet;
        var t = LayerKind.Transformer;
        Assert.Equal([d, d, d, t, d, d, d, t], Enumerable.Range(0, c.BlockCount).Select(c.KindOf));
        Assert.Equal((2, 6), (c.CacheLayerCount, c.RecurrentLayerCount));
        Assert.True(c.HasRecurrentState);
        Assert.True(c.AttentionOutputGate);
        // 2 key heads and 4 value heads of 32: convolution over q, k (64 each) and v (128); a head's state is 32 × 32.
        Assert.Equal(new SsmConfig(4, 128, 32, 4, 2), c.Ssm);
        Assert.Equal((256, 3 * 256, 4 * 32 * 32), (c.Ssm!.ConvChannels, c.Ssm.ConvStateLength, c.Ssm.SsmStateLength));
        Assert.Equal((16, RopeStyle.NeoX, 64), (c.RopeDimensions, c.RopeStyle, c.HeadSize));
        Assert.Equal(2 * c.QueryDimension, model.Weights.Layers[3].Query.Rows); // each head's query, then its gate
        Assert.NotNull(model.Weights.Layers[0].DeltaNet);
        Assert.Null(c.Moe);
    }

    [Fact]
    public void Moe_file_reads_softmax_routing_and_a_gated_shared_expert()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(Moe));
        Assert.Equal(new MoeConfig(8, 2, 128, 128, true, 1f, ExpertGating.Softmax), model.Config.Moe);
        var experts = model.Weights.Layers[0].Experts!;
        Assert.NotNull(experts.SharedGate);
        Assert.Equal(model.Config.EmbeddingLength, experts.SharedScale!.Length);
    }

    [Fact]
    public void Rope_scaling_this_reader_does_not_apply_is_refused_naming_the_key()
    {
        using (var f = Rewrite(Dense, m => { m.Set("qwen35.rope.scaling.type", GgufValue.Of("yarn")); m.Set("qwen35.rope.scaling.factor", GgufValue.Of(4f)); }))
            Assert.Contains("qwen35.rope.scaling.type", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(Dense, m => m.Set("qwen35.rope.scaling.type", GgufValue.Of("none"))))
            TransformerModel.Load(f).Dispose(); // saying "none" is fine
    }

    [Fact]
    public void Recurrent_layers_array_overrides_the_attention_interval_and_draft_blocks_are_left_unread()
    {
        using (var f = Rewrite(Dense, m => m.Set("qwen35.attention.recurrent_layers", GgufValue.Of(new[] { 1, 1, 1, 0, 1, 1, 1, 0 }))))
            Assert.Equal(2, TransformerModel.Load(f).Config.CacheLayerCount);
        using (var f = Rewrite(Dense, m => m.Set("qwen35.full_attention_interval", GgufValue.Of(2u))))
        {
            // Every other block attention: blocks 1, 3, 5 and 7 would need attention tensors the file stores as DeltaNet's.
            var e = Assert.Throws<GgufFormatException>(() => TransformerModel.Load(f));
            Assert.Contains("blk.1.attn_q.weight", e.Message);
        }
        using (var f = Rewrite(Dense, m => m.Set("qwen35.nextn_predict_layers", GgufValue.Of(4u))))
        {
            using var model = TransformerModel.Load(f);
            Assert.Equal((4, 1), (model.Config.BlockCount, model.Config.CacheLayerCount));
        }
    }

    [Fact]
    public void Inconsistent_or_unsupported_files_are_refused_with_the_reason()
    {
        using (var f = Rewrite(Dense, m => m.Set("qwen35.ssm.inner_size", GgufValue.Of(96u))))
            Assert.Contains("inner_size", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(Dense, m => m.Set("qwen35.ssm.group_count", GgufValue.Of(3u))))
            Assert.Contains("group_count", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        // Sections that leave rotated pairs to the vision-only fourth position.
        using (var f = Rewrite(Dense, m => m.Set("qwen35.rope.dimension_sections", GgufValue.Of(new[] { 2, 2, 2, 2 }))))
            Assert.Contains("extra (vision) position", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(Dense, m => m.Remove("qwen35.ssm.time_step_rank")))
            Assert.Contains("qwen35.ssm.time_step_rank", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(Dense, tensor: t => t.Name == "blk.2.ssm_alpha.weight" ? null : t))
            Assert.Contains("blk.2.ssm_alpha.weight", Assert.Throws<GgufFormatException>(() => TransformerModel.Load(f)).Message);
    }

    /// <summary>
    /// Gate and up experts fused into one stack (convert --fuse-gate-up-exps; Gemma 4's converter always does): expert x's gate
    /// rows then its up rows. The fused copy of a file computes the same logits, bit for bit.
    /// </summary>
    [Theory]
    [InlineData(Moe)]
    [InlineData("synth-qwen35moe-qwen35moe-tiny-Q8_0-seed1")]
    public void Fused_gate_and_up_experts_compute_what_separate_ones_do(string name)
    {
        using var original = GgufFile.Open(SyntheticModels.Get(name));
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        foreach (var t in original.Tensors)
        {
            if (t.Name.EndsWith(".ffn_up_exps.weight", StringComparison.Ordinal))
                continue;
            if (!t.Name.EndsWith(".ffn_gate_exps.weight", StringComparison.Ordinal))
            {
                w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
                continue;
            }
            var up = original.GetTensorInfo(t.Name.Replace("ffn_gate_exps", "ffn_up_exps"));
            long perExpert = original.TensorBytes(t).Length / t.Dimensions[2];
            var fused = new byte[2 * original.TensorBytes(t).Length];
            for (int x = 0; x < t.Dimensions[2]; x++)
            {
                original.TensorBytes(t).Slice((int)(x * perExpert), (int)perExpert).CopyTo(fused.AsSpan((int)(2 * x * perExpert)));
                original.TensorBytes(up).Slice((int)(x * perExpert), (int)perExpert).CopyTo(fused.AsSpan((int)((2 * x + 1) * perExpert)));
            }
            w.AddTensor(t.Name.Replace("ffn_gate_exps", "ffn_gate_up_exps"), [t.Dimensions[0], 2 * t.Dimensions[1], t.Dimensions[2]], t.Type, fused);
        }
        using var fusedFile = GgufFile.FromBytes(w.ToBytes(), "fused.gguf");
        using var separate = TransformerModel.Load(SyntheticModels.Get(name));
        using var merged = TransformerModel.Load(fusedFile);
        int[] prompt = [1, 20, 30, 40, 50, 60, 70, 80];
        using var a = new PagedSequence(separate, 64, threads: 2);
        using var b = new PagedSequence(merged, 64, threads: 2);
        var la = new float[prompt.Length * separate.VocabSize];
        var lb = new float[prompt.Length * merged.VocabSize];
        a.Evaluate(prompt, la);
        b.Evaluate(prompt, lb);
        Assert.Equal(la, lb);
        Assert.Null(merged.Weights.Layers[0].Experts!.GateBias);
    }

    [Fact]
    public void Synth_writes_qwen35_only_at_its_own_shapes()
    {
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string path = Path.Combine(TestPaths.TempDir(), "x.gguf");
        var e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("qwen35", ModelShape.Find("tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("qwen35-tiny", e.Message);
        e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("qwen35", ModelShape.Find("qwen35moe-tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("qwen35moe", e.Message);
        Assert.False(File.Exists(path));
        var real = ModelShape.Find("qwen35-35b-a3b");
        Assert.Equal(("qwen35moe", 40, 256, 32), (real.Architecture, real.BlockCount, real.Moe!.Experts, real.DeltaNet!.ValueHeads));
    }
}
