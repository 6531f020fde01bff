using TokenFactory.Platform;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed class WeightPrefetchTests
{
    [Fact]
    public void By_default_the_cpu_vendor_decides()
    {
        // The tests run with the default KernelOptions: PrefetchNta unset, so AMD and Hygon prefetch non-temporally.
        Assert.Null(KernelOptions.Current.PrefetchNta);
        Assert.Equal(WeightPrefetch.IsAmd(), WeightPrefetch.NonTemporal);
        if (OperatingSystem.IsLinux() && System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            string cpu = File.ReadAllText("/proc/cpuinfo");
            Assert.Equal(cpu.Contains("AuthenticAMD") || cpu.Contains("HygonGenuine"), WeightPrefetch.NonTemporal);
        }
        Assert.Equal(4096, WeightPrefetch.Distance);
        Assert.Equal(8192, WeightPrefetch.WideDistance);
    }
}
