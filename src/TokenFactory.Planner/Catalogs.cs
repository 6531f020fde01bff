using System.Reflection;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace TokenFactory.Planning;

/// <summary>
/// The built-in model and hardware catalogs (YAML embedded in the assembly, with a source for every figure), and
/// operators' own catalog files, which add entries or replace built-in ones of the same id.
/// </summary>
public static class Catalogs
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    public static IReadOnlyList<ModelProfile> Models(string? extraFile = null) => Merge(Read<ModelEntry>("models.yaml", extraFile).Select(e => e.ToProfile()), m => m.Name);

    public static IReadOnlyList<HardwareProfile> Hardware(string? extraFile = null, HardwareProfile? measured = null)
    {
        var all = Read<HardwareEntry>("hardware.yaml", extraFile).Select(e => e.ToProfile()).ToList();
        if (measured is not null)
            all.Add(measured);
        return Merge(all, h => h.Id);
    }

    /// <summary>A GGUF file's shape, or a catalog entry by name.</summary>
    public static ModelProfile FindModel(string name, string? extraFile = null) =>
        name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || File.Exists(name) ? ModelProfile.FromGguf(name) : FindCatalogModel(name, extraFile, "; or give a GGUF file");

    /// <summary>A catalog entry by name, never a file (what a caller over HTTP may name).</summary>
    public static ModelProfile FindCatalogModel(string name, string? extraFile = null, string otherwise = "")
    {
        var models = Models(extraFile);
        return models.FirstOrDefault(m => m.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            ?? throw new TokenFactoryException($"Unknown model '{name}'. Catalog: {string.Join(", ", models.Select(m => m.Name))}{otherwise}.");
    }

    public static HardwareProfile FindHardware(string id, string? extraFile = null, HardwareProfile? measured = null)
    {
        var all = Hardware(extraFile, measured);
        return all.FirstOrDefault(h => h.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
            ?? throw new TokenFactoryException(id == CpuProfile.Id
                ? $"'{CpuProfile.Id}' is this machine as measured: run `tokenfactory plan calibrate --model-file F` first."
                : $"Unknown hardware '{id}'. Catalog: {string.Join(", ", all.Select(h => h.Id))}.");
    }

    /// <summary>A built-in catalog, read and checked once per process (the command center's plans ask for it per request).</summary>
    private static class BuiltIn<T> where T : ICatalogEntry
    {
        public static List<T>? Entries;
    }

    private static List<T> ReadBuiltIn<T>(string resource) where T : ICatalogEntry
    {
        using var stream = typeof(Catalogs).Assembly.GetManifestResourceStream("TokenFactory.Planning.Catalog." + resource)
            ?? throw new InvalidOperationException($"embedded catalog {resource} is missing");
        using var reader = new StreamReader(stream);
        var entries = Yaml.Deserialize<List<T>>(reader) ?? [];
        // The built-in entries pass the checks an operator's do (every plan reads them, so a bad one fails every test).
        if (entries.Select(e => e.Problem()).FirstOrDefault(p => p is not null) is { } builtIn)
            throw new InvalidOperationException($"the built-in {resource}: {builtIn}");
        return entries;
    }

    private static IEnumerable<T> Read<T>(string resource, string? extraFile) where T : ICatalogEntry
    {
        var entries = new List<T>(BuiltIn<T>.Entries ??= ReadBuiltIn<T>(resource)); // a copy: an operator's file adds to it
        if (extraFile is not null)
        {
            List<T?> extra;
            try
            {
                extra = Yaml.Deserialize<List<T?>>(File.ReadAllText(extraFile)) ?? [];
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                throw new TokenFactoryException($"{extraFile}: not a catalog of {(typeof(T) == typeof(ModelEntry) ? "models" : "hardware")}: {e.Message}");
            }
            for (int i = 0; i < extra.Count; i++)
            {
                var entry = extra[i] ?? throw new TokenFactoryException($"{extraFile}: entry {i + 1} is empty.");
                if (entry.Problem() is { } problem)
                    throw new TokenFactoryException($"{extraFile}: entry {i + 1}: {problem}.");
                entries.Add(entry);
            }
        }
        return entries;
    }

    /// <summary>Later entries replace earlier ones with the same id (an operator's file wins over the built-in one).</summary>
    private static List<T> Merge<T>(IEnumerable<T> entries, Func<T, string> id)
    {
        var result = new List<T>();
        foreach (var e in entries)
        {
            int at = result.FindIndex(x => id(x).Equals(id(e), StringComparison.OrdinalIgnoreCase));
            if (at >= 0)
                result[at] = e;
            else
                result.Add(e);
        }
        return result;
    }

    /// <summary>An entry that can say what about it makes no sense (a figure the planner would divide by, missing).</summary>
    private interface ICatalogEntry
    {
        string? Problem();
    }

    private static bool Positive(double x) => x > 0 && double.IsFinite(x);

    internal sealed class ModelEntry : ICatalogEntry
    {
        public string Name { get; set; } = "";
        public double TotalParameters { get; set; }
        public double DenseParameters { get; set; }
        public int Layers { get; set; }
        public int Hidden { get; set; }
        public int QueryHeads { get; set; }
        public int AttentionDim { get; set; }
        public double KvElementsPerToken { get; set; }
        public int AttentionLayers { get; set; }
        public double SlidingKvElementsPerToken { get; set; }
        public int SlidingWindow { get; set; }
        public int SlidingLayers { get; set; }
        public int RoutedExperts { get; set; }
        public int ExpertsPerToken { get; set; }
        public int MoeLayers { get; set; }
        public double ExpertParameters { get; set; }
        public double RecurrentStateBytes { get; set; }
        public int ContextLength { get; set; } = 131072;
        public string? Source { get; set; }

        public string? Problem() =>
            Name.Length == 0 ? "a model needs a name"
            : !Positive(TotalParameters) ? $"{Name}: total_parameters must be positive"
            : Layers < 1 || Hidden < 1 ? $"{Name}: layers and hidden must be positive"
            : KvElementsPerToken < 0 || RecurrentStateBytes < 0 || DenseParameters < 0 || DenseParameters > TotalParameters ? $"{Name}: kv_elements_per_token, recurrent_state_bytes and dense_parameters must be 0 or more (dense at most the total)"
            : RoutedExperts > 0 && (ExpertsPerToken < 1 || ExpertsPerToken > RoutedExperts || !Positive(ExpertParameters)) ? $"{Name}: a mixture needs experts_per_token in 1..routed_experts and expert_parameters"
            : ContextLength < 1 ? $"{Name}: context_length must be positive"
            : null;

        public ModelProfile ToProfile() => new()
        {
            Name = Name, TotalParameters = TotalParameters, DenseParameters = DenseParameters, Layers = Layers, Hidden = Hidden,
            QueryHeads = QueryHeads, AttentionDim = AttentionDim, KvElementsPerToken = KvElementsPerToken, AttentionLayers = AttentionLayers,
            SlidingKvElementsPerToken = SlidingKvElementsPerToken, SlidingWindow = SlidingWindow, SlidingLayers = SlidingLayers,
            RoutedExperts = RoutedExperts, ExpertsPerToken = ExpertsPerToken, MoeLayers = MoeLayers, ExpertParameters = ExpertParameters,
            RecurrentStateBytes = RecurrentStateBytes, ContextLength = ContextLength, Source = Source,
        };
    }

    internal sealed class HardwareEntry : ICatalogEntry
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public double MemoryGb { get; set; }
        public double MemoryBandwidthTbps { get; set; }
        public Dictionary<string, double> PeakTflops { get; set; } = [];
        public int Domain { get; set; } = 1;
        public double LinkGbps { get; set; }
        public double TdpWatts { get; set; }
        public double AllInWatts { get; set; }
        public double UsdPerHour { get; set; }
        public int DevicesPerRack { get; set; } = 8;
        public double ComputeEfficiency { get; set; } = 0.6;
        public double MemoryEfficiency { get; set; } = 0.8;
        public double StepOverheadMs { get; set; } = 0.5;
        public double Fp4Efficiency { get; set; } = 0.35;
        public double MoeEfficiency { get; set; } = 0.5;
        public bool Announced { get; set; }
        public string? Source { get; set; }

        public string? Problem() =>
            Id.Length == 0 ? "hardware needs an id"
            : !Positive(MemoryGb) || !Positive(MemoryBandwidthTbps) ? $"{Id}: memory_gb and memory_bandwidth_tbps must be positive"
            : PeakTflops.Count == 0 || PeakTflops.Values.Any(v => !Positive(v)) ? $"{Id}: peak_tflops needs a positive figure per precision"
            : Domain < 1 || DevicesPerRack < 1 ? $"{Id}: domain and devices_per_rack must be at least 1"
            : !Positive(TdpWatts) && !Positive(AllInWatts) ? $"{Id}: tdp_watts (or all_in_watts) must be positive"
            : UsdPerHour < 0 || !double.IsFinite(UsdPerHour) ? $"{Id}: usd_per_hour must be 0 or more"
            : new[] { ComputeEfficiency, MemoryEfficiency, Fp4Efficiency, MoeEfficiency }.Any(e => !(e > 0 && e <= 1)) ? $"{Id}: efficiencies must be above 0 and at most 1"
            : StepOverheadMs < 0 || !double.IsFinite(StepOverheadMs) ? $"{Id}: step_overhead_ms must be 0 or more"
            : null;

        public HardwareProfile ToProfile() => new()
        {
            Id = Id, Name = Name, MemoryGb = MemoryGb, MemoryBandwidthTbps = MemoryBandwidthTbps, PeakTflops = PeakTflops, Domain = Domain,
            LinkGbps = LinkGbps, TdpWatts = TdpWatts, AllInWatts = AllInWatts > 0 ? AllInWatts : TdpWatts, UsdPerHour = UsdPerHour,
            DevicesPerRack = DevicesPerRack, ComputeEfficiency = ComputeEfficiency, MemoryEfficiency = MemoryEfficiency,
            StepOverheadMs = StepOverheadMs, Fp4Efficiency = Fp4Efficiency, MoeEfficiency = MoeEfficiency, Announced = Announced, Source = Source,
        };
    }
}
