using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>Hand-written checks of behaviour the generated conformance cases do not pin down.</summary>
public sealed class JinjaTemplateTests
{
    private static string Render(string template, JinjaOptions? options = null, Dictionary<string, JinjaValue>? ctx = null) =>
        JinjaTemplate.Parse(template, options).Render(ctx ?? []);

    [Fact]
    public void LStripBlocksOnlyStripsSpacesAndTabsAtLineStart()
    {
        Assert.Equal("a\nb\n", Render("a\n  \t{% if true %}\nb\n  {% endif %}\n"));
        // Not at a line start: text before the tag stays.
        Assert.Equal("a  b", Render("a  {% if true %}b{% endif %}"));
        // Variable tags are never lstripped, and trim_blocks does not apply to them (one trailing newline of the
        // template itself is always dropped, as keep_trailing_newline is off).
        Assert.Equal("  1\n", Render("  {{ 1 }}\n\n"));
    }

    [Fact]
    public void TrimBlocksRemovesOnlyOneNewline()
    {
        Assert.Equal("\nx", Render("{% if true %}\n\nx{% endif %}\n"));
        Assert.Equal("\nx", Render("{% if true +%}\nx{% endif %}"));
    }

    [Fact]
    public void OptionsCanTurnWhitespaceHandlingOff()
    {
        var plain = new JinjaOptions { TrimBlocks = false, LStripBlocks = false };
        Assert.Equal("  \nx\n", Render("  {% if true %}\nx\n{% endif %}", plain));
    }

    [Fact]
    public void SyntaxErrorsReportLineAndColumn()
    {
        var ex = Assert.ThrowsAny<TemplateException>(() => JinjaTemplate.Parse("ok\n\n  {{ a + }}"));
        Assert.Equal(3, ex.Line);
        Assert.True(ex.Column > 1);
        Assert.Contains("line 3", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MutationRequiresOptIn()
    {
        Assert.Contains("unsafe", Assert.ThrowsAny<TemplateException>(() => Render("{% set xs = [] %}{{ xs.append(1) }}")).Message, StringComparison.Ordinal);
        Assert.Equal("None[1]", Render("{% set xs = [] %}{{ xs.append(1) }}{{ xs }}", JinjaOptions.HuggingFace with { AllowMutation = true }));
    }

    [Fact]
    public void RunawayTemplatesHitLimits()
    {
        Assert.ThrowsAny<TemplateException>(() => Render("{% for i in range(100000000) %}{% endfor %}"));
        Assert.ThrowsAny<TemplateException>(() => Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
        Assert.ThrowsAny<TemplateException>(() => Render("{{ 'x' * 100000000 }}"));
        Assert.ThrowsAny<TemplateException>(() => Render("{{ 2 ** 100 }}"));
        Assert.ThrowsAny<TemplateException>(() => JinjaTemplate.Parse("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}"));
    }

    [Fact]
    public void FloatsPrintLikePythonRepr()
    {
        Assert.Equal("0.1|1e-05|1e+16|1234567890123456.0|-2.5|5e-324|1.7976931348623157e+308",
            Render("{{ 0.1 }}|{{ 0.00001 }}|{{ 1e16 }}|{{ 1234567890123456.0 }}|{{ -2.5 }}|{{ 5e-324 }}|{{ 1.7976931348623157e308 }}"));
    }
}
