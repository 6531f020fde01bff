using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace TokenFactory.Planning;

/// <summary>A published throughput figure (an MLPerf row) and the workload it was measured on, for checking the planner.</summary>
public sealed class PublishedResult
{
    public string Id { get; set; } = "";
    public string Model { get; set; } = "";
    public string Hardware { get; set; } = "";
    public int Devices { get; set; }
    public string Precision { get; set; } = "";
    public string Scenario { get; set; } = "offline";
    public int Isl { get; set; }
    public int Osl { get; set; }
    public double? TtftP99Ms { get; set; }
    public double? TpotP99Ms { get; set; }
    public double TokensPerSecondPerDevice { get; set; }
    public string Source { get; set; } = "";

    public static IReadOnlyList<PublishedResult> All()
    {
        using var stream = typeof(PublishedResult).Assembly.GetManifestResourceStream("TokenFactory.Planning.Catalog.published.yaml")!;
        using var reader = new StreamReader(stream);
        return new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build().Deserialize<List<PublishedResult>>(reader);
    }

    /// <summary>The planner's figure for this row: the same devices, precision, lengths and (server) latency limits.</summary>
    public PlanOption Predict() => Planner.PlanOne(new PlanRequest
    {
        Model = Catalogs.FindModel(Model),
        Hardware = [Catalogs.FindHardware(Hardware)],
        Precision = Precisions.Parse(Precision),
        InputTokens = Isl,
        OutputTokens = Osl,
        Scenario = Scenario,
        TtftP99Ms = TtftP99Ms,
        TpotP99Ms = TpotP99Ms,
        Devices = Devices,
        Site = new Site { Utilization = 0.9 },
    }, Catalogs.FindHardware(Hardware));
}
