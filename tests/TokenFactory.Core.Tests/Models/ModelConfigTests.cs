using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

public sealed class ModelConfigTests
{
    [Fact]
    public void Unknown_architecture_lists_the_supported_ones()
    {
        var w = new GgufWriter();
        w.Metadata.Set("general.architecture", GgufValue.Of("mamba"));
        using var f = GgufFile.FromBytes(w.ToBytes(), "m.gguf");
        var e = Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f));
        Assert.Contains("unknown architecture 'mamba'", e.Message);
        Assert.Contains("llama, qwen2, qwen3", e.Message);
    }

    [Fact]
    public void Vocabulary_only_file_is_not_mistaken_for_a_model()
    {
        using var f = GgufFile.Open(TestPaths.Vocab("gpt-2"));
        var e = Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f));
        Assert.Contains("architecture", e.Message);
    }

    [Theory]
    [InlineData("llama.embedding_length")]
    [InlineData("llama.attention.head_count")]
    [InlineData("llama.block_count")]
    [InlineData("llama.attention.layer_norm_rms_epsilon")]
    public void Missing_required_metadata_is_named(string key)
    {
        var original = GgufFile.Open(TestPaths.Stories260K);
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
        {
            if (k != key)
                w.Metadata.Set(k, v);
        }
        original.Dispose();
        using var f = GgufFile.FromBytes(w.ToBytes(), "m.gguf");
        var e = Assert.Throws<TokenFactoryException>(() => TransformerModel.Load(f));
        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var original = GgufFile.Open(TestPaths.Stories260K);
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        foreach (var t in original.Tensors.Where(t => t.Name != "blk.3.ffn_up.weight"))
            w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
        using var f = GgufFile.FromBytes(w.ToBytes(), "m.gguf");
        var e = Assert.Throws<GgufFormatException>(() => TransformerModel.Load(f));
        Assert.Contains("blk.3.ffn_up.weight", e.Message);
    }

    [Fact]
    public void Tensor_of_a_type_we_cannot_compute_is_reported()
    {
        using var original = GgufFile.Open(TestPaths.Stories260K);
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        foreach (var t in original.Tensors)
        {
            if (t.Name == "output.weight")
                w.AddTensor(t.Name, [256, 512 * 64 / 256], GgmlType.IQ2_XXS, new byte[512 * 64 / 256 * 66]);
            else
                w.AddTensor(t.Name, t.Dimensions, t.Type, original.TensorBytes(t).ToArray());
        }
        using var f = GgufFile.FromBytes(w.ToBytes(), "m.gguf");
        var e = Assert.Throws<GgufFormatException>(() => TransformerModel.Load(f));
        Assert.Contains("output.weight", e.Message);
    }

    [Fact]
    public void Stories260K_hyperparameters_are_read()
    {
        using var m = TransformerModel.Load(TestPaths.Stories260K);
        var c = m.Config;
        Assert.Equal(("llama", 64, 5, 8, 4, 8, 172), (c.Architecture, c.EmbeddingLength, c.BlockCount, c.HeadCount, c.KvHeadCount, c.HeadSize, c.FeedForwardLength));
        Assert.Equal(1e-5f, c.RmsEpsilon);
        Assert.False(m.Weights.OutputTied);
    }
}
