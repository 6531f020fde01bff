using TokenFactory.Engine;

namespace TokenFactory.Tests.Engine;

public sealed class StopStringMatcherTests
{
    [Fact]
    public void Stop_string_spanning_tokens_is_not_emitted()
    {
        var m = new StopStringMatcher(["\nUser:"]);
        var output = string.Concat(new[] { "Hello", " there", "\nUs", "er", ": more" }.Select(m.Push));
        Assert.True(m.Stopped);
        Assert.Equal("Hello there", output);
        Assert.Equal("\nUser:", m.MatchedStop);
    }

    [Fact]
    public void Held_back_prefix_is_released_when_it_turns_out_not_to_be_a_stop()
    {
        var m = new StopStringMatcher(["STOP"]);
        Assert.Equal("a", m.Push("aST"));
        Assert.Equal("STx", m.Push("x"));
        Assert.Equal("", m.Push("S"));
        Assert.Equal("", m.Push("T"));
        Assert.Equal("ST", m.Flush());
        Assert.False(m.Stopped);
    }

    [Fact]
    public void Earliest_of_several_stops_wins()
    {
        var m = new StopStringMatcher(["world", "lo w"]);
        Assert.Equal("hel", m.Push("hello world"));
        Assert.Equal("lo w", m.MatchedStop);
    }

    [Fact]
    public void Without_stops_text_passes_through()
    {
        var m = new StopStringMatcher(null);
        Assert.Equal("abc", m.Push("abc"));
        Assert.Equal("", m.Flush());
    }
}
