using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace TokenFactory.Cli.Tests.Deploy;

/// <summary>The YAML under deploy/, parsed (anchors and merge keys resolved), and the tokenfactory containers in it.</summary>
internal static class Manifests
{
    public static string Root => Path.Combine(TestPaths.RepoRoot, "deploy");

    public static IEnumerable<string> Files() =>
        Directory.EnumerateFiles(Root, "*.*", SearchOption.AllDirectories).Where(f => f.EndsWith(".yaml") || f.EndsWith(".yml")).Order();

    public static List<YamlMappingNode> Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(new MergingParser(new Parser(reader)));
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    /// <summary>Every Kubernetes document of deploy/kubernetes, with the file it came from.</summary>
    public static List<(string File, YamlMappingNode Doc)> Kubernetes() =>
        [.. Files().Where(f => f.Contains($"{Path.DirectorySeparatorChar}kubernetes{Path.DirectorySeparatorChar}") && !f.EndsWith("kustomization.yaml"))
            .SelectMany(f => Load(f).Select(d => (Path.GetRelativePath(Root, f), d)))];

    public static YamlMappingNode Compose() => Load(Path.Combine(Root, "docker-compose.yml")).Single();

    public static YamlMappingNode Single(string kind, string name) =>
        Kubernetes().Single(d => Text(d.Doc, "kind") == kind && Text(d.Doc, "metadata", "name") == name).Doc;

    /// <summary>A workload's containers: spec.template.spec.containers.</summary>
    public static IEnumerable<YamlMappingNode> Containers(YamlMappingNode workload) =>
        Seq(workload, "spec", "template", "spec", "containers").Cast<YamlMappingNode>();

    public static YamlNode? Node(YamlNode node, params string[] path)
    {
        foreach (string key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var next))
                return null;
            node = next;
        }
        return node;
    }

    public static string? Text(YamlNode node, params string[] path) => (Node(node, path) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Seq(YamlNode node, params string[] path) => Node(node, path) is YamlSequenceNode s ? s.Children : [];

    public static List<string> Strings(YamlNode node, params string[] path) => [.. Seq(node, path).Select(n => ((YamlScalarNode)n).Value!)];

    public static IEnumerable<(string Key, YamlNode Value)> Entries(YamlNode node, params string[] path) =>
        Node(node, path) is YamlMappingNode m ? m.Children.Select(kv => (((YamlScalarNode)kv.Key).Value!, kv.Value)) : [];

    /// <summary>The value after <paramref name="flag"/> in a command line.</summary>
    public static List<string> Values(IReadOnlyList<string> args, string flag) =>
        [.. args.Select((a, i) => (a, i)).Where(x => x.a == flag && x.i + 1 < args.Count).Select(x => args[x.i + 1])];

    /// <summary>A tokenfactory command line somewhere in deploy/: its source, arguments and environment variable names.</summary>
    public sealed record Invocation(string Source, IReadOnlyList<string> Args, IReadOnlyList<string> Environment)
    {
        public string Command => Args[0];
    }

    public static List<Invocation> Invocations()
    {
        var found = new List<Invocation>();
        foreach (var (file, doc) in Kubernetes())
        {
            foreach (var c in Containers(doc).Where(c => Text(c, "image")!.StartsWith("tokenfactory", StringComparison.Ordinal)))
                found.Add(new Invocation($"{file}: {Text(c, "name")}", Strings(c, "args"), [.. Seq(c, "env").Select(e => Text(e, "name")!)]));
        }
        foreach (var (name, service) in Entries(Compose(), "services"))
        {
            if (Text(service, "image")?.StartsWith("tokenfactory", StringComparison.Ordinal) == true)
                found.Add(new Invocation($"docker-compose.yml: {name}", Strings(service, "command"), [.. Entries(service, "environment").Select(e => e.Key)]));
        }
        return found;
    }
}
