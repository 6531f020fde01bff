using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace TokenFactory.Cli.Fleet;

/// <summary>
/// What <c>tokenfactory factory up</c> starts. From a config file (<see cref="Load"/>), then the command line's options on
/// top: the file's keys are the options' names without dashes in front (<c>replicas: 4</c>, <c>no-auth: true</c>).
/// </summary>
public sealed record FactorySettings
{
    /// <summary>The <c>route</c> command of this tokenfactory; <see cref="NoRouter"/> starts the replicas alone.</summary>
    public const string DefaultRouter = "route", NoRouter = "none";

    /// <summary>GGUF file every replica serves (default: the built-in model, as <c>serve</c>).</summary>
    public string? Model { get; init; }
    public int Replicas { get; init; } = 2;
    /// <summary>The router's port (the fleet's address).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>The router accepts requests without API keys.</summary>
    public bool NoAuth { get; init; }
    /// <summary>Compute threads per replica; default: the machine's cores divided between the replicas.</summary>
    public int? Threads { get; init; }
    /// <summary>Context length per sequence, for every replica.</summary>
    public int? Ctx { get; init; }
    /// <summary>The router's ledger: a SQLite file, or a PostgreSQL connection string.</summary>
    public string? Database { get; init; }
    public string? Postgres { get; init; }
    /// <summary><see cref="DefaultRouter"/> or <see cref="NoRouter"/>.</summary>
    public string RouterCommand { get; init; } = DefaultRouter;

    /// <summary>Threads each replica gets: as configured, else the cores shared out, at least one each.</summary>
    public int ThreadsPerReplica(int cores) => Threads ?? Math.Max(1, cores / Replicas);

    /// <exception cref="TokenFactoryException">A setting out of range, or two that contradict each other.</exception>
    public FactorySettings Validated()
    {
        if (Replicas < 1)
            throw new TokenFactoryException($"replicas is {Replicas}: a fleet needs at least one replica.");
        if (Port is < 1 or > 65535)
            throw new TokenFactoryException($"port is {Port}: the router needs a port from 1 to 65535.");
        if (Threads is < 1)
            throw new TokenFactoryException($"threads is {Threads}: each replica needs at least one thread.");
        if (Ctx is < 1)
            throw new TokenFactoryException($"ctx is {Ctx}: the context length must be positive.");
        if (Database is not null && Postgres is not null)
            throw new TokenFactoryException("database and postgres are both set: the router keeps its ledger in one of them.");
        if (RouterCommand is not (DefaultRouter or NoRouter))
            throw new TokenFactoryException($"router-command is '{RouterCommand}': use '{DefaultRouter}' (this tokenfactory's router) or '{NoRouter}' (replicas only).");
        if (Model is not null && !File.Exists(Model))
            throw new TokenFactoryException($"model file not found: {Model}");
        return this;
    }

    /// <summary>
    /// Reads a config file. YAML, because JSON is YAML too: one parser takes both (<c>factory.yaml</c> or
    /// <c>factory.json</c>), and YAML is what the rest of a deployment (Compose, Kubernetes) is written in. A key the
    /// settings do not have is an error naming it, not ignored.
    /// </summary>
    /// <exception cref="TokenFactoryException">The file is missing, malformed or has an unknown key.</exception>
    public static FactorySettings Load(string path)
    {
        if (!File.Exists(path))
            throw new TokenFactoryException($"config file not found: {path}");
        var deserializer = new DeserializerBuilder().WithNamingConvention(HyphenatedNamingConvention.Instance).Build();
        FileShape? file;
        try
        {
            using var reader = new StreamReader(path);
            file = deserializer.Deserialize<FileShape?>(reader);
        }
        catch (YamlException e)
        {
            // YamlDotNet names an unknown key "Property 'x' not found on type '…'"; its innermost message is the useful one.
            string message = e.InnerException?.Message ?? e.Message;
            throw new TokenFactoryException($"{path} line {e.Start.Line}: {message.Replace($"on type '{typeof(FileShape).FullName}'", "in the factory settings")}", e);
        }
        var f = file ?? new FileShape();
        var defaults = new FactorySettings();
        return new FactorySettings
        {
            Model = f.Model,
            Replicas = f.Replicas ?? defaults.Replicas,
            Port = f.Port ?? defaults.Port,
            NoAuth = f.NoAuth ?? defaults.NoAuth,
            Threads = f.Threads,
            Ctx = f.Ctx,
            Database = f.Database,
            Postgres = f.Postgres,
            RouterCommand = f.RouterCommand ?? defaults.RouterCommand,
        };
    }

    /// <summary>The file's shape: every key optional.</summary>
    private sealed class FileShape
    {
        public string? Model { get; set; }
        public int? Replicas { get; set; }
        public int? Port { get; set; }
        public bool? NoAuth { get; set; }
        public int? Threads { get; set; }
        public int? Ctx { get; set; }
        public string? Database { get; set; }
        public string? Postgres { get; set; }
        public string? RouterCommand { get; set; }
    }
}
