namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>What every fleet scenario is given: the model the replicas serve, their threads, and how many alternating rounds.</summary>
internal sealed record FleetBenchSettings(string Model, int Threads, int Rounds)
{
    /// <summary>The id the replicas serve the model as: its file name without .gguf.</summary>
    public string ModelId => Path.GetFileNameWithoutExtension(Model);
}
