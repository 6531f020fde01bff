using TokenFactory.Compute;
using TokenFactory.Platform;

namespace TokenFactory.Tests.Platform;

public sealed class KernelOptionsTests
{
    [Fact]
    public void Once_a_kernel_has_read_them_only_the_same_settings_may_be_applied_again()
    {
        // The test process runs with the defaults; reading them (as every kernel does) fixes them.
        var current = KernelOptions.Current;
        Assert.Equal(new KernelOptions(), current);
        KernelOptions.Apply(new KernelOptions()); // a second host start in the same process
        var e = Assert.Throws<InvalidOperationException>(() => KernelOptions.Apply(new KernelOptions { PrefetchBytes = 1024 }));
        Assert.Contains("fixed", e.Message);
        Assert.Same(current, KernelOptions.Current);
    }

    [Theory]
    [InlineData(-1, 8192)]
    [InlineData(4096, 2 << 20)]
    public void Out_of_range_prefetch_distances_are_refused(int bytes, int wideBytes) =>
        Assert.Throws<TokenFactoryException>(() => new KernelOptions { PrefetchBytes = bytes, WidePrefetchBytes = wideBytes }.Validate());

    [Fact]
    public void The_effective_choices_name_every_setting()
    {
        var choices = KernelChoices.Effective().ToDictionary(c => c.Key, c => c.Value);
        Assert.Equal(["isa", "prefetch", "prefetchBytes", "widePrefetchBytes", "q4k", "q4_0Tiles", "repack", "hugePages"], choices.Keys);
        Assert.Contains(choices["q4_0Tiles"], new[] { "512-bit", "256-bit", "row kernels" });
        Assert.Equal("4096", choices["prefetchBytes"]);
        Assert.Equal("on", choices["repack"]);
        Assert.Contains(choices["isa"], new[] { "scalar", "avx2", "avx512" });
    }
}
