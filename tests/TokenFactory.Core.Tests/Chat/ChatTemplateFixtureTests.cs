using System.Text.Json.Nodes;
using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>Every conversation of every fixture template must render byte for byte as Python's Jinja2 did.</summary>
public sealed class ChatTemplateFixtureTests
{
    /// <summary>The fixtures fix <c>strftime_now</c> to 22 Nov 2026.</summary>
    internal static readonly TimeProvider FixtureClock = new FixedClock(new DateTimeOffset(2026, 11, 22, 10, 30, 0, TimeSpan.Zero));

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        if (FixturePaths.ChatTemplates is not { } dir)
        {
            // Keeps the theory non-empty so the missing folder shows up as a clear failure below.
            data.Add("<missing ../shared/fixtures/chat-templates>", "");
            return data;
        }
        // The shared fixtures, then the project's own (tool-call families the shared set lacks: Functionary, Command R),
        // rendered by tools/chat-templates/render-expected.py with the same Jinja2 settings.
        foreach (var folder in new[] { dir, Own })
        {
            foreach (var file in Directory.GetFiles(folder, "*.expected.json").Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(file)[..^".expected.json".Length];
                foreach (var c in JsonNode.Parse(File.ReadAllText(file))!["cases"]!.AsArray())
                    data.Add(name, c!["case"]!.GetValue<string>());
            }
        }
        return data;
    }

    private static string Own => TestPaths.Fixture("chat-templates");

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersLikeJinja2(string template, string caseName)
    {
        Assert.True(FixturePaths.ChatTemplates is not null, "../shared/fixtures/chat-templates not found next to the repository");
        var dir = File.Exists(Path.Combine(Own, template + ".jinja")) ? Own : FixturePaths.ChatTemplates!;
        var source = File.ReadAllText(Path.Combine(dir, template + ".jinja"));
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, template + ".expected.json")))!;
        var testCase = expected["cases"]!.AsArray().Single(c => c!["case"]!.GetValue<string>() == caseName)!;
        var ctx = testCase["context"]!.AsObject();

        var chat = new ChatTemplate(source, ctx["bos_token"]!.GetValue<string>(), ctx["eos_token"]!.GetValue<string>(), FixtureClock);
        var extra = ctx.Where(p => p.Key is not ("messages" or "add_generation_prompt" or "bos_token" or "eos_token" or "tools"))
            .ToDictionary(p => p.Key, p => p.Value?.DeepClone());
        string Render() => chat.Render(
            ctx["messages"]!.AsArray(),
            ctx["add_generation_prompt"]!.GetValue<bool>(),
            ctx["tools"]?.AsArray(),
            extra);

        if (testCase["error"] is { } error)
        {
            var ex = Assert.ThrowsAny<TemplateException>(Render);
            var message = error.GetValue<string>();
            // A Python type error (a dict added to a string) has Python's wording; that the render fails is what must match.
            if (!message.StartsWith("TemplateError", StringComparison.Ordinal))
                return;
            // Fixtures record Python's "ExceptionType: message"; the template's own text is what must match.
            var colon = message.IndexOf(": ", StringComparison.Ordinal);
            Assert.Equal(colon >= 0 ? message[(colon + 2)..] : message, ex.Message);
            Assert.IsType<TemplateRaisedException>(ex);
        }
        else
        {
            Assert.Equal(testCase["expected"]!.GetValue<string>(), Render());
        }
    }
}

internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
}
