using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

/// <summary>Gemma 4 files: what the loader reads from them, and the clear errors for what it cannot.</summary>
public sealed class Gemma4ModelTests
{
    private const string Tiny = "synth-gemma4-gemma4-tiny-F32-seed1";

    private static GgufFile Rewrite(Action<GgufMetadata> metadata)
    {
        using var original = GgufFile.Open(SyntheticModels.Get(Tiny));
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        metadata(w.Metadata);
        foreach (var t in original.Tensors)
            w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
        return GgufFile.FromBytes(w.ToBytes(), "m.gguf");
    }

    [Fact]
    public void Tiny_file_reads_each_blocks_attention_shape_and_which_cache_it_reads()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(Tiny));
        var c = model.Config;
        Assert.Equal([true, true, false, true, true, false], Enumerable.Range(0, c.BlockCount).Select(c.IsSliding));
        Assert.Equal(new AttentionGeometry(4, 2, 64, 64), c.AttentionOf(0));
        Assert.Equal(new AttentionGeometry(4, 1, 128, 128), c.AttentionOf(2));
        // The last three blocks keep no cache: sliding ones read block 1's, the global one block 2's.
        Assert.Equal(3, c.CacheLayerCount);
        Assert.Equal([0, 1, 2, 1, 1, 2], Enumerable.Range(0, c.BlockCount).Select(c.KvSourceBlock));
        Assert.Equal((512, 128), (c.QueryDimension, c.KvDimension)); // the widest rows: global queries, either kind's keys
        Assert.Equal((32, 1f, 30f), (c.PerLayerEmbeddingLength, c.AttentionScale, c.FinalLogitSoftcap));
        var w = model.Weights;
        Assert.Equal(0, w.Layers[2].Value.Rows); // a global block takes its keys as values
        Assert.Equal(128, w.Layers[0].Value.Rows);
        Assert.Equal(0, w.Layers[3].Key.Rows);   // a shared block projects queries only
        Assert.Equal(64, w.RopeFreqFactors!.Length); // a factor per pair of a global head, a quarter of them 1
        Assert.Equal(16, w.RopeFreqFactors.Count(f => f == 1f));
        Assert.Equal(6 * 32, w.PerLayerTokenEmbedding.Columns);
        Assert.InRange(w.Layers[0].OutputScale, 0.7f, 1.1f);
    }

    [Fact]
    public void Mixture_file_reads_experts_beside_each_blocks_mlp()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-gemma4-gemma4-moe-tiny-F32-seed1"));
        Assert.Equal(new MoeConfig(8, 2, 128, 0, true, 1f, ExpertGating.Softmax, GeluExperts: true), model.Config.Moe);
        var layer = model.Weights.Layers[4];
        Assert.Equal(512, layer.Gate.Rows); // the dense MLP stays
        Assert.Equal((8, 256, 8), (layer.Experts!.Gate!.Length, layer.Experts.RouterInputScale!.Length, layer.Experts.DownScale!.Length));
        Assert.NotNull(layer.ExpertInputNorm);
        Assert.NotNull(layer.ExpertOutputNorm);
        Assert.NotNull(layer.DenseOutputNorm);
    }

    [Fact]
    public void Inconsistent_or_unsupported_files_are_refused_with_the_reason()
    {
        // Two shared blocks would make block 2 (global) the sliding blocks' source.
        using (var f = Rewrite(m => m.Set("gemma4.attention.shared_kv_layers", GgufValue.Of(2u))))
            Assert.Contains("block 2 must slide", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("gemma4.expert_count", GgufValue.Of(8u))))
            Assert.Contains("gemma4.expert_used_count", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("gemma4.attention.sliding_window_pattern", GgufValue.Of(new[] { true, false }))))
            Assert.Contains("sliding_window_pattern", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Remove("gemma4.attention.sliding_window")))
            Assert.Contains("gemma4.attention.sliding_window", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        using (var f = Rewrite(m => m.Set("gemma4.attention.value_length_swa", GgufValue.Of(32u))))
            Assert.Contains("key and value lengths", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
        // No heads: a clear error, not a division by zero on the way there.
        using (var f = Rewrite(m => { m.Set("gemma4.attention.head_count", GgufValue.Of(0u)); m.Remove("gemma4.attention.key_length"); }))
            Assert.IsType<TokenFactoryException>(Record.Exception(() => TransformerModel.Load(f)));
        // Rope scaling this family's reader does not apply: refused, not loaded to answer wrongly at long context.
        using (var f = Rewrite(m => { m.Set("gemma4.rope.scaling.type", GgufValue.Of("yarn")); m.Set("gemma4.rope.scaling.factor", GgufValue.Of(4f)); }))
            Assert.Contains("gemma4.rope.scaling.type", Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f)).Message);
    }

    [Fact]
    public void Synth_writes_gemma4_only_at_its_own_shapes_and_the_real_shape_follows_its_config()
    {
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string path = Path.Combine(TestPaths.TempDir(), "x.gguf");
        var e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("gemma4", ModelShape.Find("gemma3-tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("gemma4-tiny", e.Message);
        e = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("gemma3", ModelShape.Find("gemma4-tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("--arch gemma4", e.Message);
        Assert.False(File.Exists(path));
        var e4b = ModelShape.Find("gemma4-e4b").Gemma4!;
        Assert.Equal((42, 7, 18), (e4b.Pattern.Length, e4b.Pattern.Count(c => c == 'G'), e4b.SharedKvLayers));
        Assert.Equal('G', e4b.Pattern[42 - 18 - 1]); // the shared blocks' sources are of their kinds
        Assert.Equal('S', e4b.Pattern[42 - 18 - 2]);
    }
}
