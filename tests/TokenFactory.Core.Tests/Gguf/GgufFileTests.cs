using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Gguf;

public sealed class GgufFileTests
{
    [Fact]
    public void Reads_stories260K_metadata_and_tensor_table()
    {
        using var f = GgufFile.Open(TestPaths.Stories260K);
        Assert.Equal(3u, f.Version);
        Assert.Equal("llama", f.Architecture);
        Assert.Equal(64, f.Metadata.GetInt32("llama.embedding_length"));
        Assert.Equal(5, f.Metadata.GetInt32("llama.block_count"));
        Assert.Equal(512, f.Metadata.GetArray<string>("tokenizer.ggml.tokens").Length);
        var emb = f.GetTensorInfo("token_embd.weight");
        Assert.Equal(GgmlType.F32, emb.Type);
        Assert.Equal(new long[] { 64, 512 }, emb.Dimensions);
        Assert.Equal(0, (f.DataOffset + emb.Offset) % f.Alignment);
    }

    [Theory]
    [InlineData("llama-spm")]
    [InlineData("gpt-2")]
    [InlineData("falcon")]
    [InlineData("starcoder")]
    [InlineData("deepseek-llm")]
    [InlineData("phi-3")]
    [InlineData("bert-bge")]
    [InlineData("baichuan")]
    public void Reads_every_vocabulary_fixture(string name)
    {
        using var f = GgufFile.Open(TestPaths.Vocab(name));
        Assert.NotEmpty(f.Metadata.GetArray<string>("tokenizer.ggml.tokens"));
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void Writer_round_trips_every_value_type_and_nested_arrays()
    {
        var w = new GgufWriter { Alignment = 64 };
        w.Metadata.Set("u8", new GgufValue(GgufValueType.UInt8, (byte)200));
        w.Metadata.Set("i8", new GgufValue(GgufValueType.Int8, (sbyte)-5));
        w.Metadata.Set("u16", new GgufValue(GgufValueType.UInt16, (ushort)65000));
        w.Metadata.Set("i16", new GgufValue(GgufValueType.Int16, (short)-30000));
        w.Metadata.Set("u32", GgufValue.Of(4000000000u));
        w.Metadata.Set("i32", GgufValue.Of(-7));
        w.Metadata.Set("f32", GgufValue.Of(1.5f));
        w.Metadata.Set("bool", GgufValue.Of(true));
        w.Metadata.Set("str", GgufValue.Of("héllo ✓"));
        w.Metadata.Set("u64", GgufValue.Of(ulong.MaxValue));
        w.Metadata.Set("i64", new GgufValue(GgufValueType.Int64, long.MinValue));
        w.Metadata.Set("f64", new GgufValue(GgufValueType.Float64, Math.PI));
        w.Metadata.Set("strs", GgufValue.Of(["a", "", "ccc"]));
        w.Metadata.Set("nested", new GgufValue(GgufValueType.Array,
            new[] { GgufValue.Of([1, 2]), GgufValue.Of(new int[0]), GgufValue.Of([3]) }, GgufValueType.Array));
        var data = new byte[4 * 3 * 2];
        for (int i = 0; i < data.Length; i++)
            data[i] = (byte)i;
        w.AddTensor("a", [3, 2], GgmlType.F32, data);
        w.AddTensor("b", [32], GgmlType.Q8_0, new byte[34]);

        using var f = GgufFile.FromBytes(w.ToBytes());
        Assert.Equal(64, f.Alignment);
        Assert.Equal((byte)200, f.Metadata["u8"].Value);
        Assert.Equal((sbyte)-5, f.Metadata["i8"].Value);
        Assert.Equal((ushort)65000, f.Metadata["u16"].Value);
        Assert.Equal((short)-30000, f.Metadata["i16"].Value);
        Assert.Equal(4000000000u, f.Metadata["u32"].Value);
        Assert.Equal(-7, f.Metadata.GetInt32("i32"));
        Assert.Equal(1.5f, f.Metadata.GetFloat("f32"));
        Assert.True(f.Metadata.GetBoolOrDefault("bool", false));
        Assert.Equal("héllo ✓", f.Metadata.GetString("str"));
        Assert.Equal(ulong.MaxValue, f.Metadata["u64"].Value);
        Assert.Equal(long.MinValue, f.Metadata["i64"].Value);
        Assert.Equal(Math.PI, f.Metadata["f64"].Value);
        Assert.Equal(["a", "", "ccc"], f.Metadata.GetArray<string>("strs"));
        var nested = (GgufValue[])f.Metadata["nested"].Value;
        Assert.Equal([1, 2], (int[])nested[0].Value);
        Assert.Empty((int[])nested[1].Value);
        Assert.Equal(data, f.TensorBytes(f.GetTensorInfo("a")).ToArray());
        Assert.Equal(0, f.GetTensorInfo("b").Offset % 64);
    }

    public static TheoryData<string, byte[], string> Corruptions()
    {
        var good = SmallFile();
        var data = new TheoryData<string, byte[], string>();
        var badMagic = (byte[])good.Clone();
        badMagic[0] = (byte)'X';
        data.Add("magic", badMagic, "bad magic");
        var badVersion = (byte[])good.Clone();
        badVersion[4] = 9;
        data.Add("version", badVersion, "unsupported GGUF version 9");
        data.Add("truncated", good[..(good.Length - 10)], "truncated");
        var hugeCount = (byte[])good.Clone();
        BitConverter.GetBytes(ulong.MaxValue / 3).CopyTo(hugeCount, 8);
        data.Add("tensor count", hugeCount, "tensor count");
        return data;
    }

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupt_files_give_precise_errors(string what, byte[] bytes, string expected)
    {
        _ = what;
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes, "x.gguf"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("x.gguf", e.Message);
    }

    [Fact]
    public void Version_2_files_are_read()
    {
        var bytes = SmallFile();
        bytes[4] = 2;
        using var f = GgufFile.FromBytes(bytes);
        Assert.Equal(2u, f.Version);
        Assert.Equal(["a", "b", "c"], f.Metadata.GetArray<string>("tokenizer.ggml.tokens"));
        Assert.Equal(2, f.Tensors.Count);
    }

    [Fact]
    public void Dimensions_whose_product_overflows_are_rejected()
    {
        var w = new GgufWriter();
        w.AddTensor("huge", [1L << 40, 1L << 30], GgmlType.F32, _ => { });
        var bytes = new MemoryStream();
        try { w.Write(bytes); } catch (InvalidOperationException) { }
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes.ToArray(), "x.gguf"));
        Assert.Contains("overflow", e.Message);
    }

    [Fact]
    public void Overlapping_tensors_are_rejected()
    {
        var bytes = SmallFile();
        using (var f = GgufFile.FromBytes(bytes))
        {
            // Patch tensor b's offset to point into tensor a.
            var info = f.GetTensorInfo("b");
            Assert.Equal(32, info.Offset);
        }
        int at = FindLast(bytes, BitConverter.GetBytes(32UL));
        BitConverter.GetBytes(0UL).CopyTo(bytes, at);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes, "x.gguf"));
        Assert.Contains("overlaps", e.Message);
    }

    [Fact]
    public void Unknown_tensor_type_is_named()
    {
        var bytes = SmallFile();
        int at = FindLast(bytes, BitConverter.GetBytes((uint)GgmlType.Q8_0));
        BitConverter.GetBytes(77u).CopyTo(bytes, at);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.FromBytes(bytes, "x.gguf"));
        Assert.Contains("unknown type id 77", e.Message);
    }

    internal static byte[] SmallFile()
    {
        var w = new GgufWriter();
        w.Metadata.Set("general.architecture", GgufValue.Of("llama"));
        w.Metadata.Set("tokenizer.ggml.tokens", GgufValue.Of(["a", "b", "c"]));
        w.AddTensor("a", [8], GgmlType.F32, new byte[32]);
        w.AddTensor("b", [32], GgmlType.Q8_0, new byte[34]);
        return w.ToBytes();
    }

    private static int FindLast(byte[] hay, byte[] needle)
    {
        for (int i = hay.Length - needle.Length; i >= 0; i--)
        {
            if (hay.AsSpan(i, needle.Length).SequenceEqual(needle))
                return i;
        }
        throw new InvalidOperationException("pattern not found");
    }
}
