using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Platform;

namespace TokenFactory.Tests.Platform;

public sealed unsafe class HugePageArenaTests
{
    [Fact]
    public void Buffers_are_aligned_disjoint_and_whole_and_small_ones_follow_each_other_in_a_slab()
    {
        using var arena = new HugePageArena();
        byte* a = arena.Allocate(1000);
        byte* b = arena.Allocate(3 << 20);
        byte* big = arena.Allocate(HugePageArena.SlabBytes + 5); // no slab has room: one of its own, in whole huge pages
        byte* c = arena.Allocate(1);
        byte* zero = arena.Allocate(0);
        foreach (nint p in new[] { (nint)a, (nint)b, (nint)big, (nint)c, (nint)zero })
            Assert.Equal(0, p % 64);
        Assert.True(b == a + 1024); // 1000 bytes rounded up to the next cache line
        Assert.True(c == b + (3 << 20)); // the first slab still has room
        Assert.True(zero == c + 64);
        Assert.Equal(HugePageArena.SlabBytes + (HugePageArena.SlabBytes + (2 << 20)), arena.ReservedBytes);
        new Span<byte>(a, 1000).Fill(1);
        new Span<byte>(b, 3 << 20).Fill(2);
        new Span<byte>(big, (int)(HugePageArena.SlabBytes + 5)).Fill(3);
        *c = 4;
        Assert.Equal(1, a[999]);
        Assert.Equal(2, b[0]);
        Assert.Equal(2, b[(3 << 20) - 1]);
        Assert.Equal(3, big[HugePageArena.SlabBytes + 4]);
        Assert.Equal(4, *c);
    }

    [Fact]
    public void A_buffer_goes_into_the_first_slab_with_room_and_a_new_slab_only_when_none_has_it()
    {
        using var arena = new HugePageArena();
        long piece = HugePageArena.SlabBytes / 2 - 64; // under half a slab: shares one
        byte* first = arena.Allocate(piece);
        byte* second = arena.Allocate(piece);
        byte* third = arena.Allocate(piece); // 128 bytes left in the first slab: a new one
        byte* fourth = arena.Allocate(100); // fits the first slab's end
        Assert.True(second == first + piece);
        Assert.True(third < first || third >= first + HugePageArena.SlabBytes);
        Assert.True(fourth == second + piece);
        Assert.Equal(2 * HugePageArena.SlabBytes, arena.ReservedBytes);
        new Span<byte>(second, (int)piece).Fill(4);
        new Span<byte>(third, (int)piece).Fill(5);
        new Span<byte>(fourth, 100).Fill(6);
        Assert.Equal(4, second[piece - 1]); // its last byte, just before the fourth buffer, not overwritten by it
        Assert.Equal(5, third[piece - 1]);
        Assert.Equal(6, fourth[99]);
    }

    [Fact]
    public void Nothing_is_handed_out_after_dispose()
    {
        var arena = new HugePageArena();
        arena.Allocate(100);
        arena.Dispose();
        arena.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => arena.Allocate(100));
    }

    [SkippableFact]
    public void Small_buffers_and_the_tails_of_large_ones_are_advised_as_huge_pages()
    {
        Skip.If(!OperatingSystem.IsLinux() || !HugePageMemory.Enabled, "needs Linux (smaps) and huge pages on");
        using var arena = new HugePageArena();
        byte* small = arena.Allocate(1 << 20);
        byte* large = arena.Allocate(HugePageArena.SlabBytes + (1 << 20)); // its own slab, 1 MiB past its last whole huge page
        // What per-buffer allocation left on 4 KiB pages: a buffer under 2 MiB, a large one's tail.
        Assert.Contains("hg", Smaps.VmFlags((long)small));
        Assert.Contains("hg", Smaps.VmFlags((long)(large + HugePageArena.SlabBytes + (1 << 20) - 1)));
    }

    [SkippableFact]
    public void A_files_repacked_weights_sit_on_huge_page_mappings_even_when_a_tensor_is_small()
    {
        Skip.If(!OperatingSystem.IsLinux() || !HugePageMemory.Enabled || !WeightMatrix.Repacks(GgmlType.Q8_0, 1024),
            "needs Linux (smaps), huge pages on and a CPU that repacks Q8_0 (AVX-VNNI)");
        const int rows = 256, blocks = 32; // 1024 columns: 278 KB repacked, far under a huge page
        var data = new byte[34 * blocks * rows];
        new Random(11).NextBytes(data);
        for (int i = 0; i < data.Length; i += 34)
            BitConverter.TryWriteBytes(data.AsSpan(i, 2), (ushort)0x2C00); // finite scales
        var writer = new GgufWriter();
        writer.AddTensor("w", [32 * blocks, rows], GgmlType.Q8_0, data);
        using var file = GgufFile.FromBytes(writer.ToBytes());
        var w = new WeightMatrix(file, file.GetTensorInfo("w"));
        Assert.True(w.Packed != null);
        Assert.Contains("hg", Smaps.VmFlags((long)w.Packed));
    }
}
