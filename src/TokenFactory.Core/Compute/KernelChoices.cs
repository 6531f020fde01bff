using TokenFactory.Platform;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// What the kernels run in this process: <see cref="KernelOptions"/> resolved against this CPU, for a host's start-up
/// log and a benchmark's report. Reading it fixes the kernel options (it is the kernels' own view), so hosts call it
/// after <see cref="KernelOptions.Apply"/>.
/// </summary>
public static class KernelChoices
{
    public static IReadOnlyList<KeyValuePair<string, string>> Effective() =>
    [
        new("isa", VecDotIsaInfo.Best.ToString().ToLowerInvariant()),
        new("prefetch", WeightPrefetch.NonTemporal ? "prefetchnta" : "prefetcht0"),
        new("prefetchBytes", WeightPrefetch.Distance.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("widePrefetchBytes", WeightPrefetch.WideDistance.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("q4k", GemmQ4_Kx8.UseWide ? "512-bit" : GemmQ4_Kx8.IsSupported ? "256-bit" : "row kernels"),
        new("q4_0Tiles", LegacyGemmX8<Q4_0x8>.Wide ? "512-bit" : LegacyGemmX8.IsSupported ? "256-bit" : "row kernels"),
        new("repack", KernelOptions.Current.Repack ? "on" : "off"),
        new("hugePages", HugePageMemory.Enabled ? "on" : "off"),
    ];

    /// <summary>One line: <c>isa avx512, prefetch prefetchnta, ...</c>.</summary>
    public static string Summary() => string.Join(", ", Effective().Select(c => $"{c.Key} {c.Value}"));
}
