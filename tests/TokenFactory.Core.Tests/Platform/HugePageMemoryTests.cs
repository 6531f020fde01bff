using TokenFactory.Platform;

namespace TokenFactory.Tests.Platform;

public sealed unsafe class HugePageMemoryTests
{
    [Fact]
    public void Large_buffers_start_on_a_huge_page_boundary_and_small_ones_on_a_cache_line()
    {
        byte* large = HugePageMemory.Allocate(5L << 20);
        byte* small = HugePageMemory.Allocate(1000);
        try
        {
            Assert.True(HugePageMemory.Enabled); // the tests run with the default KernelOptions
            Assert.Equal(0, (long)large % (2L << 20));
            Assert.Equal(0, (long)small % 64);
            // Every byte is usable, including the tail past the last whole huge page.
            new Span<byte>(large, 5 << 20).Fill(7);
            new Span<byte>(small, 1000).Fill(9);
            Assert.Equal(7, large[(5 << 20) - 1]);
            Assert.Equal(9, small[999]);
            if (OperatingSystem.IsLinux())
                Assert.Contains("hg", Smaps.VmFlags((long)large)); // madvise(MADV_HUGEPAGE) took: the mapping carries VM_HUGEPAGE
        }
        finally
        {
            HugePageMemory.Free(large);
            HugePageMemory.Free(small);
        }
    }
}
