using System.Reflection;
using NetArchTest.Rules;
using TokenFactory.Engine;
using TokenFactory.Floor;

namespace TokenFactory.Tests.Architecture;

/// <summary>
/// Imports run one way. Core's namespaces form layers, lowest first; a type may use its own layer and those below it,
/// never one above (docs/architecture.md draws them). The hosts (Floor, Server, CLI) sit on top of Core, and neither
/// Core nor Floor may reference ASP.NET: the web stays in the server.
/// </summary>
public sealed class LayerTests
{
    /// <summary>Core's layers, lowest first: each namespace with its sub-namespaces, except where a higher layer claims one.</summary>
    private static readonly string[] Layers =
    [
        "TokenFactory",              // TokenFactoryException, shared by all
        "TokenFactory.Platform",     // native memory, kernel options: what the process runs on
        "TokenFactory.Gguf",         // the file format, ggml's type table
        "TokenFactory.Tokenization",
        "TokenFactory.Chat",         // chat templates (the engine renders them; nothing below needs them)
        "TokenFactory.Constraints",  // structured output: JSON schemas compiled to a byte-level parser and a token mask
        "TokenFactory.Tensors",      // block layouts and kernels
        "TokenFactory.Kv",           // paged KV cache: block pool, block hashes, step descriptors
        "TokenFactory.Compute",      // matmul, attention, norms, the worker pool
        "TokenFactory.Models",
        "TokenFactory.Engine",       // requests, results, sampling, the engine interface
        "TokenFactory.Engine.Batching",
    ];

    private static readonly Assembly Core = typeof(IInferenceEngine).Assembly;

    /// <summary>The layer a namespace belongs to: the longest layer name it equals or extends.</summary>
    private static int LayerOf(string? ns) =>
        Enumerable.Range(0, Layers.Length).Where(i => ns == Layers[i] || (ns ?? "").StartsWith(Layers[i] + ".", StringComparison.Ordinal))
            .DefaultIfEmpty(-1).MaxBy(i => i < 0 ? -1 : Layers[i].Length);

    private static string Regex(int layer) =>
        "^" + System.Text.RegularExpressions.Regex.Escape(Layers[layer]) + "(\\..*)?$";

    /// <summary>Every layer but the top one, which may use all the others.</summary>
    public static TheoryData<string> LayerNames() => new(Layers[..^1]);

    [Theory]
    [MemberData(nameof(LayerNames))]
    public void A_layer_uses_nothing_above_it(string layerName)
    {
        int layer = Array.IndexOf(Layers, layerName);
        string[] above = Layers[(layer + 1)..];
        var types = Types.InAssembly(Core).That().ResideInNamespaceMatching(Regex(layer)).GetTypes()
            .Where(t => LayerOf(t.ReflectionType.Namespace) == layer).Select(t => t.ReflectionType).ToArray();
        Assert.NotEmpty(types);
        var result = Types.InAssembly(Core).That().ResideInNamespaceMatching(Regex(layer))
            .ShouldNot().HaveDependencyOnAny(above)
            .GetResult();
        var failing = (result.FailingTypes ?? []).Where(t => LayerOf(t.ReflectionType.Namespace) == layer).ToList();
        Assert.True(failing.Count == 0,
            $"{layerName} must not use the layers above it ({string.Join(", ", above)}), but:\n" +
            string.Join("\n", failing.Select(t => $"  {t.FullName}: {t.Explanation}")));
    }

    [Fact]
    public void Every_core_type_belongs_to_a_layer()
    {
        var loose = Core.GetTypes().Where(t => !t.Name.StartsWith('<') && t.Namespace != null && LayerOf(t.Namespace) < 0).Select(t => t.FullName).ToList();
        Assert.True(loose.Count == 0, "Namespaces missing from the layer list: " + string.Join(", ", loose));
    }

    [Fact]
    public void Core_and_Floor_do_not_reference_AspNetCore()
    {
        foreach (var assembly in new[] { Core, typeof(FloorService).Assembly })
        {
            var references = assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).ToList();
            Assert.True(references.Count == 0, $"{assembly.GetName().Name} references {string.Join(", ", references)}");
            var result = Types.InAssembly(assembly).ShouldNot().HaveDependencyOnAny("Microsoft.AspNetCore").GetResult();
            Assert.True(result.IsSuccessful, $"{assembly.GetName().Name} uses ASP.NET in: " +
                string.Join(", ", (result.FailingTypes ?? []).Select(t => t.FullName)));
        }
    }
}
