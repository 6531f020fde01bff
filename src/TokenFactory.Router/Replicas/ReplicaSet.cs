using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace TokenFactory.Router.Replicas;

/// <summary>
/// The replicas behind the router, as one YARP cluster: YARP probes each one's <c>/health</c> (active checks) and
/// keeps which are available; the router marks one down at once when a request or a status poll cannot reach it
/// (passive health). A request goes only to an available, non-draining replica that serves its model.
/// </summary>
public sealed class ReplicaSet
{
    public const string ClusterId = "replicas";

    private readonly IProxyStateLookup _state;
    private readonly IDestinationHealthUpdater _health;

    public ReplicaSet(Microsoft.Extensions.Options.IOptions<RouterOptions> options, IProxyStateLookup state, IDestinationHealthUpdater health)
    {
        _state = state;
        _health = health;
        All = [.. Parse(options.Value.Replicas).Select((url, i) => new Replica(DestinationId(i), url, Math.Max(1, options.Value.DefaultMaxRunning)))];
    }

    public IReadOnlyList<Replica> All { get; }

    /// <summary>The replicas' URLs, checked: absolute http(s), each once.</summary>
    public static IReadOnlyList<Uri> Parse(IEnumerable<string> urls)
    {
        var list = new List<Uri>();
        foreach (string text in urls)
        {
            if (!Uri.TryCreate(text.Trim().TrimEnd('/') + "/", UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                throw new TokenFactoryException($"replica '{text}' is not an http(s) URL such as http://10.0.0.5:8080.");
            if (list.Contains(url))
                throw new TokenFactoryException($"replica {url} is listed twice.");
            list.Add(url);
        }
        if (list.Count == 0)
            throw new TokenFactoryException("no replicas: give at least one with --replica URL (or TokenFactory:Router:Replicas).");
        return list;
    }

    /// <summary>The destination id of the i-th replica (0-based), as the cluster and the replicas both name it.</summary>
    public static string DestinationId(int index) => $"replica-{index + 1}";

    /// <summary>The cluster YARP manages: active health checks on /health every half second, three failures in a row eject.</summary>
    public static ClusterConfig Cluster(RouterOptions options) => new()
    {
        ClusterId = ClusterId,
        Destinations = Parse(options.Replicas).Select((url, i) => (url, i)).ToDictionary(x => DestinationId(x.i), x => new DestinationConfig { Address = x.url.ToString().TrimEnd('/') }), // YARP appends the probe path to it
        HealthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = TimeSpan.FromMilliseconds(500),
                Timeout = TimeSpan.FromSeconds(Math.Max(2, options.ConnectTimeoutSeconds)),
                Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures,
                Path = "/health",
            },
            Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = HealthCheckConstants.PassivePolicy.TransportFailureRate, ReactivationPeriod = TimeSpan.FromSeconds(2) },
            AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyAndUnknown,
        },
        HttpClient = new HttpClientConfig { DangerousAcceptAnyServerCertificate = false },
        // A probe may fail on a replica saturating its cores: three in a row take it out (a dead one is out sooner, by
        // the status poll or the first request that cannot connect).
        Metadata = new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = "3" },
    };

    public bool IsAvailable(Replica replica) => replica.Reachable &&
        _state.TryGetCluster(ClusterId, out var cluster) && cluster.DestinationsState.AvailableDestinations.Any(d => d.DestinationId == replica.Id);

    /// <summary>The replicas a request for <paramref name="model"/> may go to now.</summary>
    public List<Replica> Candidates(string model) => [.. All.Where(r => r.Serves(model) && !r.IsDraining && IsAvailable(r))];

    /// <summary>Every model some replica serves (healthy or not): what <c>/v1/models</c> lists.</summary>
    public SortedSet<string> Models()
    {
        var models = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in All)
            models.UnionWith(r.Models);
        return models;
    }

    /// <summary>The replica cannot be reached: no request goes there until it answers again (or <paramref name="for"/> passes).</summary>
    public void MarkDown(Replica replica, TimeSpan @for) => SetPassive(replica, DestinationHealth.Unhealthy, @for);

    /// <summary>It answered again.</summary>
    public void MarkUp(Replica replica) => SetPassive(replica, DestinationHealth.Healthy, TimeSpan.Zero);

    public HealthSnapshot Health(Replica replica)
    {
        if (!_state.TryGetCluster(ClusterId, out var cluster) || !cluster.Destinations.TryGetValue(replica.Id, out var destination))
            return new HealthSnapshot(false, "unknown", "unknown");
        return new HealthSnapshot(IsAvailable(replica), destination.Health.Active.ToString().ToLowerInvariant(), destination.Health.Passive.ToString().ToLowerInvariant());
    }

    public ClusterState? ClusterState => _state.TryGetCluster(ClusterId, out var cluster) ? cluster : null;

    private void SetPassive(Replica replica, DestinationHealth health, TimeSpan reactivation)
    {
        if (_state.TryGetCluster(ClusterId, out var cluster) && cluster.Destinations.TryGetValue(replica.Id, out var destination)
            && destination.Health.Passive != health)
            _health.SetPassive(cluster, destination, health, reactivation);
    }
}

/// <summary>Whether a replica takes requests, and what YARP's active and passive checks say.</summary>
public readonly record struct HealthSnapshot(bool Available, string Active, string Passive);
