using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>
/// Seeded mutations of the real fixture templates: parsing and rendering must either succeed or fail with a
/// <see cref="TemplateException"/> — never another exception type, a stack overflow, or a hang.
/// </summary>
public sealed class JinjaFuzzTests
{
    private static readonly string[] Snippets =
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"", "|", ".", ",", ":", "*", "**", "~", "%",
        " if ", " else ", " and ", " not ", " in ", " is ", "endfor", "endif", "{% endif %}", "{% endfor %}", "{% else %}", "loop", "loop.index",
        "range(99999999)", "ns", "none", "true", "0", "-1", "1e308", "9223372036854775807", "[::-1]", "[1:", "|tojson", "|length", "|trim",
        "|join(", "|map(attribute='x')", "messages", "message.content", "{% for x in messages %}", "{% set ns.x = 1 %}", "{% break %}",
        "{% macro m(a) %}{{ m(a) }}{% endmacro %}{{ m(1) }}", "'a' * 999999999", "(((((((((((", "namespace(", "raise_exception(",
        "{% raw %}", "{% endraw %}", "\\", "\n", "  ", "is defined", "is not none", "caller()", "{% call m() %}",
    ];

    [Fact]
    public void MutatedFixtureTemplatesFailOnlyWithTemplateException()
    {
        Assert.True(FixturePaths.ChatTemplates is not null, "../shared/fixtures/chat-templates not found next to the repository");
        var templates = Directory.GetFiles(FixturePaths.ChatTemplates!, "*.jinja").Order(StringComparer.Ordinal).Select(File.ReadAllText).ToList();
        var contexts = Directory.GetFiles(FixturePaths.ChatTemplates!, "*.expected.json").Order(StringComparer.Ordinal).Take(1)
            .SelectMany(f => JsonNode.Parse(File.ReadAllText(f))!["cases"]!.AsArray())
            .Select(c => c!["context"]!.AsObject())
            .ToList();
        var options = JinjaOptions.HuggingFace with { MaxLoopIterations = 200_000, MaxOutputChars = 1_000_000 };
        var random = new Random(20261122);
        var watch = Stopwatch.StartNew();
        var outcomes = new int[2];
        for (var i = 0; i < 1500; i++)
        {
            var source = Mutate(templates[i % templates.Count], random);
            var ctx = contexts[random.Next(contexts.Count)];
            var iterationStart = watch.Elapsed;
            try
            {
                var template = JinjaTemplate.Parse(source, options);
                var vars = ctx.ToDictionary(p => p.Key, p => JinjaValue.FromJson(p.Value));
                template.Render(vars, ChatTemplateFixtureTests.FixtureClock);
                outcomes[0]++;
            }
            catch (TemplateException)
            {
                outcomes[1]++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} threw {e.GetType().Name}: {e.Message}\n--- template ---\n{source}\n--- stack ---\n{e.StackTrace}");
            }
            Assert.True(watch.Elapsed - iterationStart < TimeSpan.FromSeconds(5), $"mutation {i} took too long:\n{source}");
        }
        // Both outcomes must occur, or the mutations are too weak (or too destructive) to exercise anything.
        Assert.True(outcomes[0] > 0 && outcomes[1] > 0, $"rendered {outcomes[0]}, failed {outcomes[1]}");
    }

    private static string Mutate(string source, Random random)
    {
        var sb = new StringBuilder(source);
        var edits = 1 + random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            var pos = random.Next(sb.Length + 1);
            switch (random.Next(4))
            {
                case 0:
                    sb.Remove(Math.Min(pos, sb.Length), Math.Min(1 + random.Next(12), sb.Length - Math.Min(pos, sb.Length)));
                    break;
                case 1:
                    sb.Insert(pos, Snippets[random.Next(Snippets.Length)]);
                    break;
                case 2:
                    var start = random.Next(sb.Length);
                    var len = Math.Min(1 + random.Next(40), sb.Length - start);
                    sb.Insert(pos, sb.ToString(start, len));
                    break;
                default:
                    if (pos < sb.Length) sb[pos] = (char)random.Next(32, 127);
                    break;
            }
        }
        return sb.ToString();
    }
}
