using System.Text;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Bert;

namespace TokenFactory.Tests.Models;

/// <summary>
/// Headers whose numbers overflow or run past any model (a head size that wraps to 4 once multiplied, a block count of
/// billions, a uint64 past long's range, a string length of a gigabyte) are clear errors before anything is sized by them:
/// never an overflow that slips past the shape checks, an IndexOutOfRangeException, an InvalidCastException or a giant
/// allocation.
/// </summary>
public sealed class HostileHeaderTests
{
    /// <summary>A metadata-only file: the given file's metadata with <paramref name="changes"/> set.</summary>
    private static GgufFile MetadataOf(string path, params (string Key, GgufValue Value)[] changes)
    {
        using var original = GgufFile.Open(path);
        var w = new GgufWriter();
        foreach (var (k, v) in original.Metadata)
            w.Metadata.Set(k, v);
        foreach (var (k, v) in changes)
            w.Metadata.Set(k, v);
        return GgufFile.FromBytes(w.ToBytes(), "hostile.gguf");
    }

    [Fact]
    public void A_head_size_that_wraps_once_multiplied_by_the_heads_is_refused()
    {
        // stories260K has 8 heads: 8 × (2^29 + 1) is 8 in 32-bit arithmetic, which a 64-wide model's tensors could match.
        using var f = MetadataOf(TestPaths.Stories260K, ("llama.attention.key_length", GgufValue.Of((1 << 29) + 1)), ("llama.rope.dimension_count", GgufValue.Of(2)));
        var e = Assert.Throws<TokenFactoryException>(() => ModelConfig.FromMetadata(f.Metadata));
        Assert.Contains("attention query row", e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void A_convolution_kernel_that_wraps_once_multiplied_by_the_channels_is_refused()
    {
        string path = SyntheticModels.Get("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1");
        using var f = MetadataOf(path, ("nemotron_h.ssm.conv_kernel", GgufValue.Of((1 << 30) + 1)));
        var e = Assert.Throws<TokenFactoryException>(() => ModelConfig.FromMetadata(f.Metadata));
        Assert.Contains("convolution's", e.Message);
    }

    [Fact]
    public void A_block_count_past_any_model_is_refused_by_every_config_reader()
    {
        // The planner reads a config without the model's tensor-count guard; BERT had none.
        using (var f = MetadataOf(TestPaths.Stories260K, ("llama.block_count", GgufValue.Of(100_000))))
            Assert.Contains("more blocks than any model", Assert.Throws<TokenFactoryException>(() => ModelConfig.FromMetadata(f.Metadata)).Message);
        using (var f = MetadataOf(SyntheticModels.Get("synth-gemma4-gemma4-moe-tiny-F32-seed1"), ("gemma4.block_count", GgufValue.Of(100_000))))
            Assert.Contains("more blocks than any model", Assert.Throws<TokenFactoryException>(() => ModelConfig.FromMetadata(f.Metadata)).Message);
        using (var f = MetadataOf(SyntheticModels.Get("synth-bert-bert-tiny-F32-seed1"), ("bert.block_count", GgufValue.Of(100_000))))
            Assert.Contains("more blocks than any model", Assert.Throws<TokenFactoryException>(() => BertConfig.FromMetadata(f.Metadata)).Message);
    }

    [Fact]
    public void A_uint64_past_longs_range_is_a_clear_error_or_read_as_what_it_is()
    {
        const ulong huge = 1UL << 63;
        using (var f = MetadataOf(TestPaths.Stories260K, ("llama.block_count", GgufValue.Of(huge))))
            Assert.Contains($"'llama.block_count' = {huge} is out of range", Assert.Throws<TokenFactoryException>(() => ModelConfig.FromMetadata(f.Metadata)).Message);
        using (var f = MetadataOf(TestPaths.Stories260K, ("tokenizer.ggml.add_bos_token", GgufValue.Of(huge))))
            Assert.True(f.Metadata.GetBoolOrDefault("tokenizer.ggml.add_bos_token", false)); // non-zero: true, as any other integer
        using (var f = MetadataOf(TestPaths.Stories260K, ("llama.rope.freq_base", GgufValue.Of(huge))))
            Assert.Equal(huge, (double)f.Metadata.GetFloat("llama.rope.freq_base"), 1e12);

        // The file's own alignment: a format error when the file is opened.
        var w = new GgufWriter();
        w.Metadata.Set("general.alignment", GgufValue.Of(ulong.MaxValue));
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(w.ToBytes(), "aligned.gguf"));
        Assert.Contains("general.alignment", e.Message);
    }

    [Fact]
    public void A_metadata_string_longer_than_any_template_is_refused_before_it_is_decoded()
    {
        // "GGUF", version 3, no tensors, one key "name" holding a string that claims 256 MiB + 1 bytes: refused for its
        // length before anything is read (a file that had the bytes decoded them all; this one is 64 bytes).
        const ulong length = (256UL << 20) + 1;
        var bytes = new byte[4 + 4 + 8 + 8 + 8 + 4 + 4 + 8 + 16];
        var header = new MemoryStream(bytes);
        using (var b = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true))
        {
            b.Write("GGUF"u8);
            b.Write(3u);
            b.Write(0UL);
            b.Write(1UL);
            b.Write(4UL);
            b.Write("name"u8);
            b.Write((uint)GgufValueType.String);
            b.Write(length);
        }
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes, "long-string.gguf"));
        Assert.Contains("too long", e.Message);
    }
}
