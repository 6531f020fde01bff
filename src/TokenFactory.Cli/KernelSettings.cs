using Microsoft.Extensions.Configuration;
using TokenFactory.Platform;

namespace TokenFactory.Cli;

/// <summary>
/// The command line's <see cref="KernelOptions"/>: the <c>TokenFactory:Kernels</c> section of its configuration
/// (environment variables <c>TokenFactory__Kernels__PrefetchNta=true</c>, as the server reads them), plus the older
/// <c>TOKENFACTORY_*</c> variables, kept working as deprecated aliases because scripts and recorded benchmark
/// commands use them. The new names win where both are set.
/// </summary>
internal static class KernelSettings
{
    public const string Section = "TokenFactory:Kernels";

    /// <summary>Deprecated variable → the <see cref="KernelOptions"/> property it sets, and how its old values read.</summary>
    private static readonly (string Variable, string Key, Func<string, string?> Value)[] Aliases =
    [
        ("TOKENFACTORY_PREFETCH_NTA", nameof(KernelOptions.PrefetchNta), v => v switch { "1" => "true", "0" => "false", _ => null }),
        ("TOKENFACTORY_PREFETCH", nameof(KernelOptions.PrefetchBytes), v => int.TryParse(v, out _) ? v : null),
        ("TOKENFACTORY_PREFETCH_Q4K", nameof(KernelOptions.WidePrefetchBytes), v => int.TryParse(v, out _) ? v : null),
        ("TOKENFACTORY_Q4K_WIDE", nameof(KernelOptions.Q4KWide), v => v == "0" ? "false" : null),
        ("TOKENFACTORY_VECDOT_ISA", nameof(KernelOptions.Isa), v => Enum.TryParse<KernelIsa>(v, ignoreCase: true, out _) ? v : null),
        ("TOKENFACTORY_HUGEPAGES", nameof(KernelOptions.HugePages), v => v == "0" ? "false" : null),
        ("TOKENFACTORY_REPACK", nameof(KernelOptions.Repack), v => v == "0" ? "false" : null),
    ];

    /// <summary>The deprecated variable names, for documentation and tests.</summary>
    public static IEnumerable<string> DeprecatedVariables => Aliases.Select(a => a.Variable);

    /// <summary>
    /// Configuration entries (<c>TokenFactory:Kernels:Key</c>) the deprecated variables in <paramref name="environment"/>
    /// stand for, leaving out any key whose new-style variable is set too. Values the old readers ignored are ignored.
    /// </summary>
    public static Dictionary<string, string?> FromDeprecatedVariables(Func<string, string?> environment)
    {
        var entries = new Dictionary<string, string?>();
        foreach (var (variable, key, value) in Aliases)
        {
            if (environment(variable) is not { } raw || environment($"TokenFactory__Kernels__{key}") != null)
                continue;
            if (value(raw) is { } setting)
                entries[$"{Section}:{key}"] = setting;
        }
        return entries;
    }

    /// <summary>The kernel options this process's environment asks for.</summary>
    public static KernelOptions FromEnvironment()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(FromDeprecatedVariables(Environment.GetEnvironmentVariable))
            .AddEnvironmentVariables()
            .Build();
        try
        {
            return configuration.GetSection(Section).Get<KernelOptions>() ?? new KernelOptions();
        }
        catch (InvalidOperationException e)
        {
            throw new TokenFactoryException($"invalid {Section} setting: {e.Message}", e);
        }
    }
}
