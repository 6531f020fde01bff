using System.Text.Json;
using System.Text.Json.Serialization;

namespace TokenFactory.Planning;

/// <summary>
/// This machine as <c>plan calibrate</c> measured it: its memory size and bandwidth, and the compute rate and efficiency
/// factors fitted to TokenFactory's own engine runs, kept in a JSON file so <c>plan --hardware this-machine</c> uses them.
/// </summary>
public sealed record CpuProfile
{
    public const string Id = "this-machine";

    public required string Name { get; init; }
    public required int Threads { get; init; }
    public required double MemoryGb { get; init; }
    /// <summary>Streaming read bandwidth measured with the engine's own probe, TB/s.</summary>
    public required double MemoryBandwidthTbps { get; init; }
    /// <summary>
    /// The compute rate (the planner's peak × efficiency), TFLOPS, for 8-bit and 16-bit weights: the engine's products over
    /// the calibrated model's matrices as probed at the most rows, with <see cref="ElementsPerSecond"/> fitted for the rest; or, in profiles
    /// without that, one rate fitted for all of a token's work.
    /// </summary>
    public required double EffectiveTflops { get; init; }
    /// <summary>
    /// The products' rates by the rows they multiply, as probed (<see cref="HardwareProfile.ProductRates"/>; <see cref="EffectiveTflops"/>
    /// is the last); null in profiles from before them, which plan at <see cref="EffectiveTflops"/> for any rows.
    /// </summary>
    public ProductRates? ProductRates { get; init; }
    /// <summary>The fitted rate of attention's FLOPs, TFLOPS.</summary>
    public double AttentionTflops { get; init; }
    /// <summary>The fitted rate of attention's cache reads, elements per second (<see cref="HardwareProfile.CacheReadElementsPerSecond"/>); 0 in profiles from before it.</summary>
    public double CacheReadElementsPerSecond { get; init; }
    /// <summary><see cref="HardwareProfile.ElementsPerSecond"/>, fitted beside a probed <see cref="EffectiveTflops"/>; 0 in profiles that fit one compute rate.</summary>
    public double ElementsPerSecond { get; init; }
    public required double MemoryEfficiency { get; init; }
    public required double StepOverheadMs { get; init; }
    /// <summary>Fixed time per step and block (<see cref="HardwareProfile.LayerOverheadMs"/>); 0 in profiles from before it, which carry a fixed step cost.</summary>
    public double LayerOverheadMs { get; init; }
    /// <summary><see cref="HardwareProfile.UnoverlappedShare"/>; 0 in profiles from before it.</summary>
    public double UnoverlappedShare { get; init; }
    public double AllInWatts { get; init; } = 60;
    public double UsdPerHour { get; init; } = 0.10;
    public required string CalibratedOn { get; init; }
    /// <summary>Relative error of the fitted model on the calibration runs (mean of |predicted − measured| / measured).</summary>
    public double FitError { get; init; }
    public DateTimeOffset Measured { get; init; }

    public HardwareProfile ToHardware() => new()
    {
        Id = Id,
        Name = $"{Name} ({Threads} threads, as measured)",
        MemoryGb = MemoryGb,
        MemoryBandwidthTbps = MemoryBandwidthTbps,
        // The fitted rate is stored as peak with efficiency 1: the fit already is what the engine reaches.
        PeakTflops = HardwareProfile.OneRate(EffectiveTflops),
        ProductRates = ProductRates,
        ComputeEfficiency = 1,
        Fp4Efficiency = 1,
        AttentionTflops = AttentionTflops > 0 ? AttentionTflops : null,
        CacheReadElementsPerSecond = CacheReadElementsPerSecond > 0 ? CacheReadElementsPerSecond : null,
        MoeEfficiency = 1,
        ElementsPerSecond = ElementsPerSecond > 0 ? ElementsPerSecond : null,
        MemoryEfficiency = MemoryEfficiency,
        StepOverheadMs = StepOverheadMs,
        LayerOverheadMs = LayerOverheadMs,
        UnoverlappedShare = UnoverlappedShare,
        Domain = 1,
        TdpWatts = AllInWatts,
        AllInWatts = AllInWatts,
        UsdPerHour = UsdPerHour,
        DevicesPerRack = 40,
        Source = $"plan calibrate on {CalibratedOn}, {Measured:yyyy-MM-dd}",
    };

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>Where calibrate writes, and plan reads, unless told otherwise: ~/.local/share/tokenfactory/planner-cpu.json.</summary>
    public static string DefaultPath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "tokenfactory", "planner-cpu.json");

    public static CpuProfile? Load(string? path = null)
    {
        path ??= DefaultPath;
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<CpuProfile>(File.ReadAllText(path), Json);
        }
        catch (Exception e) when (e is JsonException or ArgumentException) // ArgumentException: product rates the constructor refuses
        {
            throw new TokenFactoryException($"{path}: not a planner CPU profile ({e.Message}); run `tokenfactory plan calibrate` again.");
        }
    }

    public void Save(string? path = null)
    {
        path ??= DefaultPath;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(this, Json));
    }
}
