using TokenFactory.Engine;

namespace TokenFactory.Tests.Engine;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void Stop_string_spanning_tokens_is_not_emitted()
    {
        var m = new StopStringMatcher(["\nUser:"]);
        var output = string.Concat(new[] { "Hello", " there", "\nUs", "er", ": more" }.Select(t => m.Push(t).ToString()));
        Assert.True(m.Stopped);
        Assert.Equal("Hello there", output);
        Assert.Equal("\nUser:", m.MatchedStop);
    }

    [Fact]
    public void Held_back_prefix_is_released_when_it_turns_out_not_to_be_a_stop()
    {
        var m = new StopStringMatcher(["STOP"]);
        Assert.Equal("a", m.Push("aST").ToString());
        Assert.Equal("STx", m.Push("x").ToString());
        Assert.Equal("", m.Push("S").ToString());
        Assert.Equal("", m.Push("T").ToString());
        Assert.Equal("ST", m.Flush().ToString());
        Assert.False(m.Stopped);
    }

    [Fact]
    public void Earliest_of_several_stops_wins()
    {
        var m = new StopStringMatcher(["world", "lo w"]);
        Assert.Equal("hel", m.Push("hello world").ToString());
        Assert.Equal("lo w", m.MatchedStop);
    }

    [Fact]
    public void Without_stops_text_passes_through()
    {
        var m = new StopStringMatcher(null);
        Assert.Equal("abc", m.Push("abc").ToString());
        Assert.Equal("", m.Flush().ToString());
    }

    [Fact]
    public void Released_text_is_a_copy_that_survives_the_next_push_and_stops_span_pushes()
    {
        var m = new StopStringMatcher(["<end>"]);
        var parts = new List<string>();
        foreach (var piece in new[] { "ab<", "e", "cd", "<en", "d>tail" })
            parts.Add(m.Push(piece).ToString());
        Assert.Equal(["ab", "", "<ecd", "", ""], parts);
        Assert.True(m.Stopped);
        Assert.Equal("", m.Push("more").ToString());
        Assert.Equal("", m.Flush().ToString());
    }
}
