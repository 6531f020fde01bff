namespace TokenFactory.Cli.Bench;

/// <summary>What one benchmark request measured. Times are from sending the request.</summary>
public sealed record RequestResult
{
    public required bool Success { get; init; }
    public string? Error { get; init; }
    public int PromptTokens { get; init; }
    public int OutputTokens { get; init; }
    /// <summary>Time to the first generated token (streamed chunk with content).</summary>
    public double TtftMs { get; init; }
    /// <summary>End-to-end latency.</summary>
    public double LatencyMs { get; init; }
    /// <summary>Gaps between consecutive streamed tokens.</summary>
    public IReadOnlyList<double> InterTokenMs { get; init; } = [];

    /// <summary>Time per output token after the first, as vLLM defines it; null with fewer than two tokens.</summary>
    public double? TpotMs => OutputTokens > 1 ? (LatencyMs - TtftMs) / (OutputTokens - 1) : null;
}

/// <summary>One request to send: a text prompt (and, where the target can take them, its token ids) and how many tokens to generate.</summary>
public sealed record BenchRequest(string Prompt, int OutputTokens, int[]? PromptTokenIds = null, int PromptTokensEstimate = 0);

/// <summary>Something the benchmark can send requests to: an OpenAI-compatible server or the engine in-process.</summary>
public interface IBenchTarget
{
    /// <param name="onToken">Called once per streamed token (or chunk), for the progress display.</param>
    Task<RequestResult> SendAsync(BenchRequest request, Action onToken, CancellationToken cancellation);
}
