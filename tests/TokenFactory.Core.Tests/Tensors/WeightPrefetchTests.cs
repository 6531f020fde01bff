using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed class WeightPrefetchTests
{
    [Theory]
    [InlineData(null, true, true)]
    [InlineData(null, false, false)]
    [InlineData("", true, true)]
    [InlineData("yes", false, false)]
    [InlineData("1", false, true)]
    [InlineData("0", true, false)]
    public void The_setting_decides_and_otherwise_the_vendor(string? setting, bool amd, bool nonTemporal)
        => Assert.Equal(nonTemporal, WeightPrefetch.Choose(setting, amd));

    [Fact]
    public void This_process_follows_its_environment()
    {
        string? setting = Environment.GetEnvironmentVariable("TOKENFACTORY_PREFETCH_NTA");
        if (setting is "0" or "1")
            Assert.Equal(setting == "1", WeightPrefetch.NonTemporal);
        else if (OperatingSystem.IsLinux() && System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            string cpu = File.ReadAllText("/proc/cpuinfo");
            Assert.Equal(cpu.Contains("AuthenticAMD") || cpu.Contains("HygonGenuine"), WeightPrefetch.NonTemporal);
        }
    }
}
