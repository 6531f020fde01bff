using System.Text.Json.Nodes;
using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>
/// Focused cases (whitespace control, loops, namespace, slicing, tojson, filters, string methods, tests,
/// expressions, errors) whose expected output was produced by Python's Jinja2; see generate_conformance.py.
/// </summary>
public sealed partial class JinjaConformanceTests
{
    internal static Dictionary<string, JinjaValue> Context()
    {
        var ctx = new Dictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var (k, v) in JsonNode.Parse(ContextJson)!.AsObject()) ctx[k] = JinjaValue.FromJson(v);
        return ctx;
    }

    private static string Render(string template) =>
        JinjaTemplate.Parse(template).Render(Context(), ChatTemplateFixtureTests.FixtureClock);

    private static void AssertRenders(string template, string expected) => Assert.Equal(expected, Render(template));

    private static void AssertRaises(string template)
    {
        var ex = Assert.ThrowsAny<TemplateException>(() => Render(template));
        if (template.Contains("raise_exception", StringComparison.Ordinal))
            Assert.Equal("custom failure", Assert.IsType<TemplateRaisedException>(ex).Message);
    }

    private static void AssertSyntaxError(string template, int line)
    {
        var ex = Assert.ThrowsAny<TemplateException>(() => JinjaTemplate.Parse(template));
        Assert.Equal(line, ex.Line);
        Assert.Contains($"line {line}", ex.Message, StringComparison.Ordinal);
    }
}
