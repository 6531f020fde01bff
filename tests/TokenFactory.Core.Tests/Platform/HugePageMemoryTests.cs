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
                Assert.Contains("hg", VmFlags((long)large)); // madvise(MADV_HUGEPAGE) took: the mapping carries VM_HUGEPAGE
        }
        finally
        {
            HugePageMemory.Free(large);
            HugePageMemory.Free(small);
        }
    }

    /// <summary>The <c>VmFlags</c> of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    private static string[] VmFlags(long address)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out long start)
                && long.TryParse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out long end))
                inside = address >= start && address < end;
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }
}
