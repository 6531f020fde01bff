using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

/// <summary>Nemotron-H files: what the loader reads from them, and the clear errors for what it cannot.</summary>
public sealed class HybridModelTests
{
    private const string Tiny = "synth-nemotron_h-nemotron-h-tiny-F32-seed1";

    /// <summary>The tiny synthetic file rewritten with <paramref name="metadata"/> and <paramref name="tensors"/> edited.</summary>
    private static GgufFile Rewrite(Action<GgufMetadata>? metadata = null, Func<GgufTensorInfo, bool>? keepTensor = null)
    {
        using var original = GgufFile.Open(SyntheticModels.Get(Tiny));
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        metadata?.Invoke(w.Metadata);
        foreach (var t in original.Tensors.Where(keepTensor ?? (_ => true)))
            w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
        return GgufFile.FromBytes(w.ToBytes(), "m.gguf");
    }

    [Theory]
    [InlineData("nemotron_h.ssm.state_size")]
    [InlineData("nemotron_h.ssm.group_count")]
    [InlineData("nemotron_h.attention.head_count_kv")]
    [InlineData("nemotron_h.feed_forward_length")]
    public void Missing_hybrid_metadata_is_named(string key)
    {
        using var f = Rewrite(m => m.Remove(key));
        var e = Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f));
        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Per_block_arrays_of_the_wrong_length_or_contradicting_each_other_are_refused()
    {
        using (var f = Rewrite(m => m.Set("nemotron_h.feed_forward_length", GgufValue.Of(new[] { 0, 512, 0 }))))
            Assert.Contains("3 entries for 6 blocks", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("nemotron_h.feed_forward_length", GgufValue.Of(new[] { 0, 512, 0, 512, 0, 512 }))))
            Assert.Contains("block 3 declares both attention and a feed-forward length", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("nemotron_h.ssm.group_count", GgufValue.Of(3u))))
            Assert.Contains("inconsistent ssm.*", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
    }

    [Fact]
    public void Draft_blocks_after_the_main_stack_are_left_out_and_latent_experts_refused()
    {
        using (var f = Rewrite(m => m.Set("nemotron_h.nextn_predict_layers", GgufValue.Of(1u))))
        {
            using var model = TransformerModel.Load(f);
            Assert.Equal(5, model.Config.BlockCount);
            Assert.Equal(5, model.Weights.Layers.Count);
        }
        using (var f = Rewrite(m => m.Set("nemotron_h.nextn_predict_layers", GgufValue.Of(6u))))
            Assert.Contains("nextn_predict_layers", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("nemotron_h.moe_latent_size", GgufValue.Of(64u))))
            Assert.Contains("latent mixture-of-experts", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
    }

    [Fact]
    public void Missing_mamba_tensor_is_named()
    {
        using var f = Rewrite(keepTensor: t => t.Name != "blk.2.ssm_conv1d.weight");
        var e = Assert.Throws<GgufFormatException>(() => TransformerModel.Load(f));
        Assert.Contains("blk.2.ssm_conv1d.weight", e.Message);
    }

    [Fact]
    public void Tiny_hybrid_model_reads_its_block_kinds_and_state_geometry()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(Tiny));
        var c = model.Config;
        Assert.Equal([LayerKind.Mamba, LayerKind.FeedForward, LayerKind.Mamba, LayerKind.Attention, LayerKind.Mamba, LayerKind.FeedForward],
            Enumerable.Range(0, c.BlockCount).Select(c.KindOf));
        Assert.Null(c.Moe);
        Assert.Equal((256, 384, 648, 3 * 384, 8 * 32 * 32), (c.Ssm!.InnerSize, c.Ssm.ConvChannels, c.Ssm.InProjection, c.Ssm.ConvStateLength, c.Ssm.SsmStateLength));
        Assert.Equal(3, c.RecurrentLayerCount);
        Assert.Equal(1, c.CacheLayerCount);
        Assert.Equal(512, model.Weights.Layers[1].Up.Rows);
        Assert.NotNull(model.Weights.Layers[0].Mamba);
    }

    [Fact]
    public void Synth_refuses_a_shape_of_the_other_family()
    {
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string path = Path.Combine(TestPaths.TempDir(), "x.gguf");
        var e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("llama", ModelShape.Find("nemotron-h-tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("--arch nemotron_h", e.Message);
        e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("nemotron_h_moe", ModelShape.Find("tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("nemotron-h-moe-tiny", e.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Real_hybrid_shapes_follow_their_configs()
    {
        foreach (var s in ModelShape.All.Where(s => s.Hybrid != null))
        {
            Assert.Equal(s.BlockCount, s.Hybrid!.Pattern.Length);
            Assert.True(s.Hybrid.SsmHeads % s.Hybrid.SsmGroups == 0, s.Name);
        }
        var nano = ModelShape.Find("nemotron-3-nano-30b-a3b");
        Assert.Equal("nemotron_h_moe", nano.Architecture);
        var h = nano.Hybrid!;
        Assert.Equal((23, 23, 6), (h.Pattern.Count(c => c == 'M'), h.Pattern.Count(c => c == 'E'), h.Pattern.Count(c => c == '*')));
        // Parameters at this shape (131072-token vocabulary, untied): about 31.6B, as NVIDIA states.
        long e = nano.EmbeddingLength, f = nano.FeedForwardLength, vocab = 131072;
        long mamba = e * (2 * h.SsmInner + 2 * h.SsmGroups * h.SsmState + h.SsmHeads) + (long)h.SsmInner * e;
        long moe = h.Experts * 2 * e * f + 2 * e * h.SharedFeedForwardLength + e * h.Experts;
        long attention = 2 * e * nano.HeadCount * nano.ResolvedHeadSize + 2 * e * nano.KvHeadCount * nano.ResolvedHeadSize;
        long total = 23 * mamba + 23 * moe + 6 * attention + 2 * vocab * e;
        Assert.InRange(total / 1e9, 31.0, 32.2);
        Assert.Equal("nemotron_h", ModelShape.Find("nemotron-h-4b").Architecture);
        // 2688 and 1856 are not multiples of 256: Q4_K falls back to Q4_0 (same size class), 3072 keeps Q4_K.
        Assert.Equal(GgmlType.Q4_0, SyntheticModelWriter.HybridTypeFor(GgmlType.Q4_K, 2688));
        Assert.Equal(GgmlType.Q4_0, SyntheticModelWriter.HybridTypeFor(GgmlType.Q4_K, 1856));
        Assert.Equal(GgmlType.Q4_K, SyntheticModelWriter.HybridTypeFor(GgmlType.Q4_K, 3072));
        Assert.Equal(GgmlType.Q8_0, SyntheticModelWriter.HybridTypeFor(GgmlType.Q6_K, 2688));
    }
}
