using System.Diagnostics;
using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>
/// Hostile templates that once escaped the engine's contract (fail with a <see cref="TemplateException"/>, quickly):
/// they overflowed the stack, hung, ran out of memory or threw another exception type, which the server turned into
/// a crash or a generic 500. Each row names the message it must fail with now. Every input is sized so the fixed
/// engine throws long before the stack or memory is at risk, so a regression fails the test instead of killing the
/// test host.
/// </summary>
public sealed class JinjaRobustnessTests
{
    /// <summary>A 16M-char string, the output limit: any value holding it many times must be refused before it is built.</summary>
    private const string Big = "{% set s = 'a' * 16000000 %}";

    public static TheoryData<string, string> Hostile => new()
    {
        // Nesting deeper than the comparison limit: a million levels used to overflow the stack in ==, < and hash.
        { "{% set ns = namespace(a=[], b=[]) %}{% for i in range(2000) %}{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}{{ ns.a == ns.b }}", "maximum recursion depth exceeded in comparison" },
        { "{% set ns = namespace(a=[], b=[]) %}{% for i in range(2000) %}{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}{{ ns.a < ns.b }}", "maximum recursion depth exceeded in comparison" },
        { "{% set ns = namespace(a={}, b={}) %}{% for i in range(2000) %}{% set ns.a = {'k': ns.a} %}{% set ns.b = {'k': ns.b} %}{% endfor %}{{ ns.a in [ns.b] }}", "maximum recursion depth exceeded in comparison" },
        // Shared halves: 2^70 element pairs within the depth limit.
        { "{% set ns = namespace(a=[], b=[]) %}{% for i in range(70) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}", "comparison too expensive" },
        // Sorting mixed types: .NET wrapped Python's TypeError in an InvalidOperationException.
        { "{{ {1: 1, 'a': 2}|dictsort }}", "'<' not supported between instances of" },
        { "{{ [1, 'a']|sort }}", "'<' not supported between instances of" },
        { "{{ [1, 'a']|min }}", "'<' not supported between instances of" },
        { "{{ [1, 'a']|max }}", "'<' not supported between instances of" },
        { "{{ {1: 1, 'a': 2}|tojson(sort_keys=true) }}", "'<' not supported between instances of" },
        // Size limits that overflowed or were checked only after building gigabytes (OutOfMemoryException, hangs).
        { "{{ 'ab' * 4611686018427387904 }}", "repetition result too large" },
        { "{{ [1]|batch(3000000000, 0) }}", "batch size too large" },
        { Big + "{{ ([s] * 1000)|join }}", "string too large" },
        { Big + "{{ ', '.join([s] * 1000) }}", "string too large" },
        { Big + "{{ ([s] * 1000)|tojson }}", "string too large" },
        { Big + "{{ [s] * 1000 }}", "string too large" },
        { Big + "{{ ([s] * 1000)|sum(start='') }}", "string too large" },
        { Big + "{{ ('%(a)s' * 1000) % {'a': s} }}", "string too large" },
        { Big + "{{ ('{0}' * 1000).format(s) }}", "string too large" },
        { Big + "{{ s|replace('a', s) }}", "string too large" },
        { "{{ ('a\n' * 8000000)|indent(10000) }}", "string too large" },
        // Whichever limit comes first: the copies of the doubling list can take past the time limit on a loaded machine.
        { "{% set ns = namespace(a=[1]) %}{% for i in range(40) %}{% set ns.a = ns.a + ns.a %}{% endfor %}", "list too large|exceeded the time limit" },
        // No overall work limit: exponentially many macro calls, or ten million 16M-char strings, never finished.
        { "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(64) }}", "exceeded the time limit of 2 s" },
        { "{% for i in range(10000000) %}{% set s = 'a' * 16000000 %}{% endfor %}", "exceeded the time limit" },
        { "{% set ns = namespace(n=0) %}{% for i in range(10000000) %}{% set ns.n = ns.n + ([i] * 5000000)|length %}{% endfor %}", "exceeded the time limit" },
        // Error messages quote the value: a brief repr, not all of it.
        { Big + "{{ [1].index([s] * 1000) }}", "... is not in list" },
        // An OverflowException out of the parser.
        { "{{ x.99999999999999999999 }}", "integer literal too large" },
        // A negative field indexed the argument list (ArgumentOutOfRangeException); Python reads it as a name.
        { "{{ '{-1}'.format(1) }}", "KeyError: '-1'" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostileTemplateFailsQuicklyWithTemplateException(string template, string message)
    {
        var error = Render(template, JinjaOptions.HuggingFace).Error;
        var ex = Assert.IsAssignableFrom<TemplateException>(error);
        // One message, or alternatives separated by '|' (either limit may be the one reached).
        Assert.Contains(message.Split('|'), m => ex.Message.Contains(m, StringComparison.Ordinal));
    }

    [Theory]
    // Lone surrogates are valid Python strings; ConvertFromUtf32 threw on them.
    [InlineData("{{ ('%c' % 55296)|length }}", "1")]
    // Slice steps and range steps near long.MaxValue overflowed (an index out of range, or an empty range).
    [InlineData("{{ 'abc'[1::9223372036854775807] }}", "b")]
    // An empty operand repeated n times used to loop n times.
    [InlineData("{{ '' * 9223372036854775807 }}|{{ [] * 9223372036854775807 }}", "|[]")]
    [InlineData("{{ range(7)|batch(3, 0)|list }}", "[[0, 1, 2], [3, 4, 5], [6, 0, 0]]")]
    [InlineData("{{ 'abc'[::-9223372036854775807] }}", "c")]
    [InlineData("{{ 'abc'[::-9223372036854775807-1] }}", "c")]
    [InlineData("{{ range(0, 10, 9223372036854775807)|list }}", "[0]")]
    [InlineData("{{ range(0, -10, -9223372036854775807-1)|list }}", "[0]")]
    [InlineData("{{ range(-9223372036854775807-1, 9223372036854775807, 9223372036854775807)|list }}", "[-9223372036854775808, -1, 9223372036854775806]")]
    // length + leeway overflowed into a negative length.
    [InlineData("{{ 'abc'|truncate(9223372036854775807) }}", "abc")]
    public void ExtremeArgumentsRenderLikePython(string template, string expected) =>
        Assert.Equal(expected, Render(template, JinjaOptions.HuggingFace).Output);

    [Theory]
    [InlineData("{% set x = [1, 'a'] %}{{ x.sort() }}", "'<' not supported between instances of")]
    // remove() without an argument indexed an empty argument list; update() cast a list to a dict.
    [InlineData("{% set x = [1] %}{{ x.remove() }}", "missing")]
    [InlineData("{% set d = {} %}{{ d.update([1]) }}", "not iterable")]
    public void MutatingMethodsFailWithTemplateException(string template, string message)
    {
        var error = Render(template, JinjaOptions.HuggingFace with { AllowMutation = true }).Error;
        var ex = Assert.IsAssignableFrom<TemplateException>(error);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DictUpdateAcceptsPairsAndKeywordsLikePython() =>
        Assert.Equal("{'a': 1, 'b': 2, 'c': 3}", Render("{% set d = {} %}{% set _ = d.update([('a', 1), ('b', 2)], c=3) %}{{ d }}", JinjaOptions.HuggingFace with { AllowMutation = true }).Output);

    [Fact]
    public void TheTimeLimitIsAnOption()
    {
        var options = JinjaOptions.HuggingFace with { MaxRenderTime = TimeSpan.FromMilliseconds(100) };
        var watch = Stopwatch.StartNew();
        var ex = Assert.IsAssignableFrom<TemplateException>(Render("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}\n{{ f(64) }}", options).Error);
        Assert.Contains("exceeded the time limit of 0.1 s (near line", ex.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
    }

    [Fact]
    public void RenderingStopsWhenCancelled()
    {
        var options = JinjaOptions.HuggingFace with { MaxRenderTime = Timeout.InfiniteTimeSpan };
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var template = JinjaTemplate.Parse("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(64) }}", options);
        var task = Task.Factory.StartNew(() => template.Render(new Dictionary<string, JinjaValue>(), null, cts.Token),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "still rendering 10 s after cancellation");
        Assert.IsAssignableFrom<OperationCanceledException>(task.Exception?.InnerException);
    }

    [Fact]
    public void AnUnexpectedExceptionBecomesATemplateExceptionNamingTheLine()
    {
        // A host function stands in for a bug in the engine: whatever escapes is reported as a template error.
        var context = new Dictionary<string, JinjaValue> { ["boom"] = JinjaValue.FromFunction("boom", (_, _) => throw new InvalidOperationException("bug")) };
        var ex = Assert.ThrowsAny<TemplateException>(() => JinjaTemplate.Parse("line 1\n{{ boom() }}").Render(context));
        Assert.Equal("the template failed near line 2: InvalidOperationException: bug", ex.Message);
        Assert.IsType<InvalidOperationException>(ex.InnerException);
    }

    [Fact]
    public void TuplesSharingTheirHalvesHashQuickly()
    {
        // Hashing used to walk every item of a tuple key: (t, t) nested 70 times is 2^70 items.
        const string template = "{% set ns = namespace(a=()) %}{% for i in range(70) %}{% set ns.a = (ns.a, ns.a) %}{% endfor %}"
            + "{% set d = {ns.a: 1} %}{{ d|length }} {{ d[ns.a] }}";
        Assert.Equal("1 1", Render(template, JinjaOptions.HuggingFace).Output);
    }

    [Fact]
    public void ComparisonsWithinTheDepthLimitStillWork()
    {
        const string template = "{% set ns = namespace(a=[], b=[]) %}{% for i in range(90) %}{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}"
            + "{{ ns.a == ns.b }} {{ ns.a < ns.b }} {{ (1, (2, 3)) == (1, (2, 3)) }} {{ {(1, 2): 'x'}[(1, 2)] }}";
        Assert.Equal("True False True x", Render(template, JinjaOptions.HuggingFace).Output);
    }

    /// <summary>
    /// Renders on its own thread and gives up after 10 seconds, so a template that hangs fails the test rather than the
    /// whole run (the runaway thread is a background thread and dies with the test host).
    /// </summary>
    private static (string? Output, Exception? Error) Render(string template, JinjaOptions options)
    {
        var watch = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(
            () => JinjaTemplate.Parse(template, options).Render(new Dictionary<string, JinjaValue>()),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)), $"still rendering after 10 s: {template}");
        // Well past the 2 s limit, well short of never: on two shared cores, with other test assemblies running and a
        // template allocating 32 MB strings, the limit's own check has been seen to land at 5.2 s.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}: {template}");
        return task.IsFaulted ? (null, task.Exception!.InnerException) : (task.Result, null);
    }
}
