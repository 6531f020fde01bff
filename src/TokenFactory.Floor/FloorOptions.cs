namespace TokenFactory.Floor;

/// <summary>The <c>TokenFactory:Floor</c> configuration section: who may call, where usage is kept, what it costs.</summary>
public sealed class FloorOptions
{
    public const string Section = "TokenFactory:Floor";

    /// <summary><c>keys</c> (every /v1 call needs an API key) or <c>none</c> (anyone may call: local use only, logged as a warning).</summary>
    public string Auth { get; set; } = "keys";

    /// <summary>Secret for the /admin API; without one the admin API answers 401 to everyone.</summary>
    public string? AdminKey { get; set; }

    /// <summary>Secret of the read-only viewer role: the command center page and its /v1/factory API, nothing else.</summary>
    public string? ViewerKey { get; set; }

    /// <summary>SQLite file for keys, budgets and the ledger; empty: <c>~/.local/share/tokenfactory/floor.db</c>.</summary>
    public string? Database { get; set; }

    /// <summary>A PostgreSQL connection string; when set it replaces SQLite (several replicas can share budgets).</summary>
    public string? Postgres { get; set; }

    /// <summary>How often this process tells the ledger it is alive (its reservations stay held while it does).</summary>
    public double HeartbeatSeconds { get; set; } = 5;

    /// <summary>How long a Responses API answer stays available to <c>previous_response_id</c> (it is then dropped).</summary>
    public double ResponseRetentionHours { get; set; } = 24;

    /// <summary>
    /// A process whose heartbeat is older than this is gone: its reservations are released and its requests
    /// recorded as interrupted. A process in this pid namespace (same boot) that no longer runs is known gone at once.
    /// </summary>
    public double InstanceTimeoutSeconds { get; set; } = 30;

    public PricingOptions Pricing { get; set; } = new();

    public EnergyOptions Energy { get; set; } = new();

    public bool RequiresKeys => !string.Equals(Auth, "none", StringComparison.OrdinalIgnoreCase);

    /// <summary>Settings that would silently do something else than asked are refused at start-up.</summary>
    public void Validate()
    {
        if (!string.Equals(Auth, "keys", StringComparison.OrdinalIgnoreCase) && !string.Equals(Auth, "none", StringComparison.OrdinalIgnoreCase))
            throw new TokenFactoryException($"TokenFactory:Floor:Auth is '{Auth}': use 'keys' (API keys required) or 'none' (no keys, local use only).");
        if (!(HeartbeatSeconds > 0) || !double.IsFinite(InstanceTimeoutSeconds) || !(InstanceTimeoutSeconds >= 2 * HeartbeatSeconds))
            throw new TokenFactoryException($"TokenFactory:Floor:HeartbeatSeconds ({HeartbeatSeconds}) must be positive and InstanceTimeoutSeconds ({InstanceTimeoutSeconds}) at least twice it.");
        if (Pricing.Pue < 1 || !double.IsFinite(Pricing.Pue))
            throw new TokenFactoryException($"TokenFactory:Floor:Pricing:Pue is {Pricing.Pue}: power usage effectiveness is at least 1.");
        // NaN passes a "< 0" check and then compares false with everything: a NaN reserve price let every request
        // past a money budget on PostgreSQL and broke settlement on SQLite. Every amount must be a finite number, 0 or more.
        Amount("Pricing:MachineUsdPerHour", Pricing.MachineUsdPerHour);
        Amount("Pricing:UsdPerKwh", Pricing.UsdPerKwh);
        Amount("Pricing:ReserveUsdPerMillionTokens", Pricing.ReserveUsdPerMillionTokens);
        Amount("Energy:EstimatedWatts", Energy.EstimatedWatts);
        foreach (var (model, price) in Pricing.Models)
        {
            Amount($"Pricing:Models:{model}:InputUsdPerMillion", price.InputUsdPerMillion);
            Amount($"Pricing:Models:{model}:OutputUsdPerMillion", price.OutputUsdPerMillion);
            if (price.CachedInputUsdPerMillion is double cached)
                Amount($"Pricing:Models:{model}:CachedInputUsdPerMillion", cached);
        }
    }

    private static void Amount(string setting, double value)
    {
        if (!(value >= 0) || !double.IsFinite(value))
            throw new TokenFactoryException($"TokenFactory:Floor:{setting} is {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}: it must be a finite number, 0 or more.");
    }

    public string ResolveDatabasePath() => !string.IsNullOrWhiteSpace(Database)
        ? Database
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "tokenfactory", "floor.db");
}

/// <summary>How a request's cost is computed: measured (machine time and energy) unless the model has list prices.</summary>
public sealed class PricingOptions
{
    /// <summary>Amortized hardware plus hosting, per hour of engine time.</summary>
    public double MachineUsdPerHour { get; set; }

    public double UsdPerKwh { get; set; } = 0.15;

    /// <summary>Power usage effectiveness: facility energy / IT energy (cooling, power conversion).</summary>
    public double Pue { get; set; } = 1.0;

    /// <summary>
    /// With measured cost a request's price is unknown until it ends, so money budgets reserve this much per
    /// token of the worst case, and a request is never charged to a budget more than it reserved.
    /// </summary>
    public double ReserveUsdPerMillionTokens { get; set; } = 10;

    /// <summary>Chargeback list prices by model id; a listed model is priced per token instead of measured.</summary>
    public Dictionary<string, ModelPrice> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

public sealed class ModelPrice
{
    public double InputUsdPerMillion { get; set; }
    public double OutputUsdPerMillion { get; set; }
    /// <summary>Prompt tokens served from the prefix cache; null charges them as input.</summary>
    public double? CachedInputUsdPerMillion { get; set; }
}

public sealed class EnergyOptions
{
    /// <summary><c>auto</c> (RAPL and NVML where readable, else estimated), <c>rapl</c>, <c>nvml</c>, <c>estimated</c> or <c>none</c>.</summary>
    public string Meter { get; set; } = "auto";

    /// <summary>Machine power at full load, for the estimate: watts × utilization (the engine's share of the cores while it steps).</summary>
    public double EstimatedWatts { get; set; } = 100;

    public string PowercapRoot { get; set; } = "/sys/class/powercap";
}
