using System.Reflection;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server;
using TokenFactory.Server.Fleet;
using YamlDotNet.RepresentationModel;
using static TokenFactory.Cli.Tests.Deploy.Manifests;

namespace TokenFactory.Cli.Tests.Deploy;

/// <summary>
/// deploy/ against the code: every file parses, every tokenfactory command line and variable exists, ports and probe paths
/// are the server's, secrets are keyed as the variables they become, and the replica's memory request is what its comment
/// computes. A manifest that drifts from the CLI fails here, not in someone's cluster.
/// </summary>
public sealed class ManifestTests
{
    [Fact]
    public void Every_manifest_parses()
    {
        var files = Files().Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/')).ToList();
        Assert.Equal(["docker-compose.yml", "kubernetes/configmap.yaml", "kubernetes/kustomization.yaml", "kubernetes/models-pvc.yaml",
            "kubernetes/optional/postgres.yaml", "kubernetes/replicas.yaml", "kubernetes/router.yaml", "kubernetes/secrets.example.yaml"], files);
        foreach (var (file, doc) in Kubernetes())
        {
            Assert.False(string.IsNullOrEmpty(Text(doc, "apiVersion")), file);
            Assert.False(string.IsNullOrEmpty(Text(doc, "kind")), file);
            Assert.False(string.IsNullOrEmpty(Text(doc, "metadata", "name")), file);
        }
        var kustomization = Load(Path.Combine(Root, "kubernetes", "kustomization.yaml")).Single();
        foreach (string resource in Strings(kustomization, "resources"))
            Assert.True(File.Exists(Path.Combine(Root, "kubernetes", resource)), resource);
        Assert.Equal(["postgres", "replica-1", "replica-2", "router"], Entries(Compose(), "services").Select(s => s.Key).Order());
    }

    [Fact]
    public void Every_tokenfactory_command_line_is_one_the_cli_accepts()
    {
        var invocations = Invocations();
        Assert.Equal(2, invocations.Count(i => i.Command == "serve" && i.Source.StartsWith("docker-compose")));
        Assert.Single(invocations, i => i.Command == "serve" && i.Source.StartsWith("kubernetes"));
        Assert.Equal(2, invocations.Count(i => i.Command == "route"));
        var root = Program.CreateRootCommand();
        foreach (var invocation in invocations)
        {
            var parsed = root.Parse([.. invocation.Args]);
            Assert.True(parsed.Errors.Count == 0, $"{invocation.Source}: {string.Join("; ", parsed.Errors.Select(e => e.Message))}");
            Assert.Equal(invocation.Command, parsed.CommandResult.Command.Name);
        }
    }

    [Fact]
    public void Every_environment_variable_is_one_tokenfactory_reads()
    {
        var configMap = Single("ConfigMap", "tokenfactory-settings");
        var names = Invocations().SelectMany(i => i.Environment.Select(e => (i.Source, Name: e)))
            .Concat(Entries(configMap, "data").Select(e => (Source: "configmap.yaml", Name: e.Key))).ToList();
        Assert.Contains(names, n => n.Name == EnvironmentVariables.InternalToken);
        foreach (var (source, name) in names)
            Assert.True(EnvironmentVariables.All.Contains(name) || IsConfigurationKey(name), $"{source}: {name} is read by nothing");
        Assert.False(IsConfigurationKey("TokenFactory__NoSuchSetting"));
        Assert.False(IsConfigurationKey("TokenFactory__Floor__NoSuchSetting"));
    }

    [Fact]
    public void Ports_and_probe_paths_are_the_servers()
    {
        int routerPort = new ServerOptions().Port; // 8080, the default address of a tokenfactory server
        var replicas = Single("StatefulSet", "tokenfactory-replica");
        var replica = Containers(replicas).Single();
        int replicaPort = Port(replica);
        Assert.Equal([replicaPort.ToString()], Values(Strings(replica, "args"), "--port"));
        AssertProbes(replica, replicaPort, ["startupProbe", "readinessProbe", "livenessProbe"]);
        var headless = Single("Service", "tokenfactory-replica");
        Assert.Equal("None", Text(headless, "spec", "clusterIP"));
        Assert.Equal(Text(replicas, "spec", "serviceName"), Text(headless, "metadata", "name"));
        Assert.All(Seq(headless, "spec", "ports"), p => Assert.Equal((replicaPort.ToString(), replicaPort.ToString()), (Text(p, "port"), Text(p, "targetPort"))));

        var router = Containers(Single("Deployment", "tokenfactory-router")).Single();
        var routerArgs = Strings(router, "args");
        Assert.Equal(routerPort, Port(router));
        Assert.Equal([routerPort.ToString()], Values(routerArgs, "--port"));
        AssertProbes(router, routerPort, ["readinessProbe"]);
        // Its liveness does not read /health, which is 503 while no replica is up: that must not restart the router.
        Assert.Null(Text(router, "livenessProbe", "httpGet", "path"));
        Assert.Equal(routerPort.ToString(), Text(router, "livenessProbe", "tcpSocket", "port"));
        var service = Single("Service", "tokenfactory");
        Assert.Equal((routerPort.ToString(), routerPort.ToString()), (Text(Seq(service, "spec", "ports").Single(), "port"), Text(Seq(service, "spec", "ports").Single(), "targetPort")));
        int count = int.Parse(Text(replicas, "spec", "replicas")!);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"http://{Text(replicas, "metadata", "name")}-{i}.{Text(headless, "metadata", "name")}:{replicaPort}"),
            Values(routerArgs, "--replica"));

        // Compose: each replica's port, health check and the router's list of them.
        var services = Entries(Compose(), "services").ToDictionary(s => s.Key, s => s.Value);
        var urls = new List<string>();
        foreach (string name in new[] { "replica-1", "replica-2" })
        {
            string port = Values(Strings(services[name], "command"), "--port").Single();
            Assert.Equal(["CMD", "curl", "-fsS", $"http://127.0.0.1:{port}{ReplicaEndpoints.Health}"], Strings(services[name], "healthcheck", "test"));
            urls.Add($"http://{name}:{port}");
        }
        Assert.Equal(2, urls.Distinct().Count());
        var routerCommand = Strings(services["router"], "command");
        Assert.Equal(urls, Values(routerCommand, "--replica"));
        Assert.Equal([routerPort.ToString()], Values(routerCommand, "--port"));
        Assert.Equal([$"{routerPort}:{routerPort}"], Strings(services["router"], "ports"));
        Assert.Equal(["CMD", "curl", "-fsS", $"http://127.0.0.1:{routerPort}{ReplicaEndpoints.Health}"], Strings(services["router"], "healthcheck", "test"));
    }

    [Fact]
    public void Secrets_are_keyed_by_the_variable_they_become()
    {
        var secrets = Kubernetes().Where(d => Text(d.Doc, "kind") == "Secret").ToDictionary(d => Text(d.Doc, "metadata", "name")!, d => d.Doc);
        int references = 0;
        foreach (var (file, doc) in Kubernetes())
        {
            foreach (var env in Containers(doc).SelectMany(c => Seq(c, "env")))
            {
                if (Node(env, "valueFrom", "secretKeyRef") is not { } reference)
                    continue;
                references++;
                string name = Text(env, "name")!, key = Text(reference, "key")!, secret = Text(reference, "name")!;
                Assert.True(name == key, $"{file}: {name} comes from key {key} of {secret}");
                Assert.True(secrets.TryGetValue(secret, out var defined), $"{file}: no example of the secret {secret}");
                Assert.Contains(key, Entries(defined, "stringData").Select(e => e.Key));
            }
        }
        Assert.Equal(5, references); // the replica's token; the router's token, admin key and ledger; PostgreSQL's password
        Assert.Equal(EnvironmentVariables.InternalToken, Entries(secrets["tokenfactory-internal"], "stringData").Single().Key);
    }

    [Fact]
    public void A_replica_requests_its_model_plus_its_kv_cache_plus_overhead_and_a_core_per_thread()
    {
        var configMap = Single("ConfigMap", "tokenfactory-settings");
        var replicas = Single("StatefulSet", "tokenfactory-replica");
        var replica = Containers(replicas).Single();
        long model = long.Parse(Text(replicas, "spec", "template", "metadata", "annotations", "tokenfactory/model-bytes")!);
        long overhead = long.Parse(Text(replicas, "spec", "template", "metadata", "annotations", "tokenfactory/overhead-bytes")!);
        long kv = ByteSize.Parse(Text(configMap, "data", "TokenFactory__KvCacheMemory")!);
        string memory = $"{(model + kv + overhead + (1 << 20) - 1) >> 20}Mi";
        Assert.Equal("2051Mi", memory); // as the manifest's comment works it out
        Assert.Equal(memory, Text(replica, "resources", "requests", "memory"));
        Assert.Equal(memory, Text(replica, "resources", "limits", "memory"));
        Assert.Equal(Text(configMap, "data", "TokenFactory__Threads"), Text(replica, "resources", "requests", "cpu"));
        Assert.Null(Node(replica, "resources", "limits", "cpu"));
        // The drain fits in the time Kubernetes and Compose give a stopping container.
        double drain = double.Parse(Text(configMap, "data", "TokenFactory__ShutdownTimeoutSeconds")!);
        Assert.True(drain < double.Parse(Text(replicas, "spec", "template", "spec", "terminationGracePeriodSeconds")!));
        var compose = Entries(Compose(), "services").Single(s => s.Key == "replica-1").Value;
        Assert.True(double.Parse(Text(compose, "environment", "TokenFactory__ShutdownTimeoutSeconds")!) < double.Parse(Text(compose, "stop_grace_period")!.TrimEnd('s')));
    }

    private static int Port(YamlNode container) => int.Parse(Text(Seq(container, "ports").Single(), "containerPort")!);

    private static void AssertProbes(YamlNode container, int port, string[] probes)
    {
        foreach (string probe in probes)
        {
            Assert.Equal(ReplicaEndpoints.Health, Text(container, probe, "httpGet", "path"));
            Assert.Equal(port.ToString(), Text(container, probe, "httpGet", "port"));
        }
    }

    /// <summary><c>TokenFactory__A__B</c> names a setting the server binds (<c>TokenFactory:A:B</c>), as the configuration binder matches it.</summary>
    private static bool IsConfigurationKey(string variable)
    {
        var parts = variable.Split("__");
        if (parts.Length < 2 || parts[0] != ServerOptions.Section)
            return false;
        bool floor = parts[1].Equals("Floor", StringComparison.OrdinalIgnoreCase);
        Type type = floor ? typeof(FloorOptions) : typeof(ServerOptions);
        foreach (string part in parts.Skip(floor ? 2 : 1))
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
                return true; // a named entry (Pricing:Models:NAME)
            var property = type.GetProperty(part, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null)
                return false;
            type = property.PropertyType;
        }
        return true;
    }
}
