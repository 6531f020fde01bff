using TokenFactory.Engine;

namespace TokenFactory.Tests.Engine;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("1048576", 1048576)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("512 MiB", 512L << 20)]
    [InlineData("2G", 2L << 30)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("800MB", 800_000_000)]
    [InlineData("64k", 64 << 10)]
    public void Parses_sizes(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("12 parsecs")]
    [InlineData("-5MiB")]
    public void Rejects_non_sizes(string text) => Assert.Throws<FormatException>(() => ByteSize.Parse(text));

    [Fact]
    public void Formats_in_binary_units() => Assert.Equal("1.5 GiB", ByteSize.Format(3L << 29));
}
