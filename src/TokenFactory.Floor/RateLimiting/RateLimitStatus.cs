using System.Globalization;

namespace TokenFactory.Floor.RateLimiting;

/// <summary>What OpenAI reports in <c>x-ratelimit-*</c>: the tighter of the key's and the team's buckets.</summary>
public sealed record RateLimitStatus(long? RequestLimit, long RequestsRemaining, TimeSpan RequestsReset, long? TokenLimit, long TokensRemaining, TimeSpan TokensReset)
{
    /// <summary>OpenAI's reset format: <c>1s</c>, <c>6m0s</c>, <c>20ms</c>.</summary>
    public static string FormatReset(TimeSpan t)
    {
        if (t < TimeSpan.FromSeconds(1))
            return $"{Math.Ceiling(t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}ms";
        if (t < TimeSpan.FromMinutes(1))
            return $"{Math.Round(t.TotalSeconds, 3).ToString(CultureInfo.InvariantCulture)}s";
        return $"{(int)t.TotalMinutes}m{Math.Round(t.TotalSeconds % 60, 3).ToString(CultureInfo.InvariantCulture)}s";
    }
}
