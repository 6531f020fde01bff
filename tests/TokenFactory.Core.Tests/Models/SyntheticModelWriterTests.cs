using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

public sealed class SyntheticModelWriterTests
{
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Same_seed_writes_identical_bytes_and_another_seed_differs(string arch)
    {
        var dir = TestPaths.TempDir();
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string a = Path.Combine(dir, "a.gguf"), b = Path.Combine(dir, "b.gguf"), c = Path.Combine(dir, "c.gguf");
        SyntheticModelWriter.Write(arch, ModelShape.Find("tiny"), GgmlType.Q4_K, vocab.Metadata, a, seed: 7);
        SyntheticModelWriter.Write(arch, ModelShape.Find("tiny"), GgmlType.Q4_K, vocab.Metadata, b, seed: 7);
        SyntheticModelWriter.Write(arch, ModelShape.Find("tiny"), GgmlType.Q4_K, vocab.Metadata, c, seed: 8);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));

        using var model = TransformerModel.Load(a);
        Assert.Equal(arch, model.Config.Architecture);
        Assert.Equal(GgmlType.Q4_K, model.Weights.Layers[0].Query.Type);
        Assert.Equal(arch == "qwen2", model.Weights.Layers[0].QueryBias != null);
        Assert.Equal(arch == "qwen3", model.Weights.Layers[0].QueryNorm != null);
        Assert.Equal(vocab.Metadata.GetArray<string>("tokenizer.ggml.tokens"), model.File.Metadata.GetArray<string>("tokenizer.ggml.tokens"));
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void Half_precision_files_load_with_their_type_and_prefill_gives_decodes_bits(GgmlType type)
    {
        var dir = TestPaths.TempDir();
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string path = Path.Combine(dir, "h.gguf");
        SyntheticModelWriter.Write("llama", ModelShape.Find("tiny"), type, vocab.Metadata, path, seed: 3);
        using (var model = TransformerModel.Load(path))
        {
            Assert.Equal(type, model.Weights.Layers[0].Query.Type);
            using var pass = new PagedSequence(model, 64);
            // Eight tokens at once take the widened-block prefill kernel, one at a time the decode row kernel: the last
            // token's logits must be the same bits either way.
            int[] tokens = [1, 5, 9, 13, 17, 21, 25, 29];
            pass.Evaluate(tokens);
            float[] prefilled = pass.Logits.ToArray();
            pass.Reset();
            foreach (int t in tokens)
                pass.Evaluate([t]);
            Assert.All(prefilled, l => Assert.True(float.IsFinite(l)));
            Assert.Contains(prefilled, l => l != 0);
            Assert.Equal(prefilled.Select(BitConverter.SingleToInt32Bits), pass.Logits.Select(BitConverter.SingleToInt32Bits));
        }
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Every_named_shape_has_consistent_dimensions()
    {
        foreach (var s in ModelShape.All)
        {
            Assert.True(s.HeadCount % s.KvHeadCount == 0, s.Name);
            Assert.True(s.ResolvedHeadSize % 2 == 0, s.Name);
            Assert.True(SyntheticModelWriter.TypeFor(GgmlType.Q8_0, s.EmbeddingLength) == GgmlType.Q8_0, s.Name);
        }
        Assert.Equal(2048, ModelShape.Find("tinyllama-1.1b").EmbeddingLength);
        Assert.Throws<TokenFactoryException>(() => ModelShape.Find("gpt-5"));
    }

    [Fact]
    public void Gpt_oss_is_written_only_at_its_own_shapes_and_read_back_with_its_parts()
    {
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        string path = Path.Combine(Path.GetTempPath(), $"gpt-oss-{Guid.NewGuid():N}.gguf");
        var wrongShape = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("gpt-oss", ModelShape.Find("tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("gpt-oss-tiny", wrongShape.Message);
        var wrongArch = Assert.Throws<TokenFactoryException>(() => SyntheticModelWriter.Write("llama", ModelShape.Find("gpt-oss-tiny"), GgmlType.F32, vocab.Metadata, path));
        Assert.Contains("--arch gpt-oss", wrongArch.Message);

        SyntheticModelWriter.Write("gpt-oss", ModelShape.Find("gpt-oss-tiny"), GgmlType.MXFP4, vocab.Metadata, path);
        try
        {
            using (var file = GgufFile.Open(path))
            {
                // As OpenAI ships it: experts in MXFP4, the other matrices in Q8_0.
                Assert.Equal(GgmlType.MXFP4, file.GetTensorInfo("blk.0.ffn_up_exps.weight").Type);
                Assert.Equal(GgmlType.Q8_0, file.GetTensorInfo("blk.0.attn_q.weight").Type);
            }
            using var model = TransformerModel.Load(path);
            var c = model.Config;
            Assert.True(c.IsGptOss);
            Assert.Equal([true, false, true, false], Enumerable.Range(0, 4).Select(c.IsSliding));
            Assert.Equal(ExpertGating.SoftmaxOfTopK, c.Moe!.Gating);
            Assert.True(c.Moe.ClampedSwiGlu);
            Assert.NotNull(c.RopeYarn);
            var layer = model.Weights.Layers[1];
            Assert.Equal(4, layer.AttentionSinks!.Length);
            Assert.NotNull(layer.OutputBias);
            Assert.NotNull(layer.Experts!.RouterBias);
            Assert.Equal(8 * 128, layer.Experts.GateBias!.Length);
            Assert.Equal(8 * 256, layer.Experts.DownBias!.Length);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void K_quant_falls_back_when_rows_are_not_a_multiple_of_256()
    {
        Assert.Equal(GgmlType.Q8_0, SyntheticModelWriter.TypeFor(GgmlType.Q4_K, 896));
        Assert.Equal(GgmlType.Q4_K, SyntheticModelWriter.TypeFor(GgmlType.Q4_K, 1024));
    }

    [Fact]
    public void Q4_K_M_gives_more_bits_to_the_first_and_last_eighth_and_every_third_layer_between()
    {
        int[] more = Enumerable.Range(0, 22).Where(l => SyntheticModelWriter.MoreBits(l, 22)).ToArray();
        Assert.Equal([0, 1, 4, 7, 10, 13, 16, 19, 20, 21], more);
        Assert.Equal([1], Enumerable.Range(0, 2).Where(l => SyntheticModelWriter.MoreBits(l, 2)).ToArray());
    }
}
