namespace TokenFactory.Chat;

/// <summary>Environment settings. Defaults match how Hugging Face renders chat templates.</summary>
public sealed record JinjaOptions
{
    public static JinjaOptions HuggingFace { get; } = new();

    /// <summary>Remove the first newline after a block tag (<c>{% %}</c> or <c>{# #}</c>).</summary>
    public bool TrimBlocks { get; init; } = true;

    /// <summary>Strip spaces and tabs from the start of a line up to a block tag.</summary>
    public bool LStripBlocks { get; init; } = true;

    /// <summary>
    /// Allow <c>list.append</c> and friends. Hugging Face renders in Jinja's immutable sandbox, where they raise,
    /// so templates that rely on them would not work upstream either.
    /// </summary>
    public bool AllowMutation { get; init; }

    /// <summary>Guards against runaway templates; exceeding one raises <see cref="TemplateException"/>.</summary>
    public int MaxOutputChars { get; init; } = 16 * 1024 * 1024;

    public long MaxLoopIterations { get; init; } = 10_000_000;

    public int MaxCallDepth { get; init; } = 200;

    public int MaxNestingDepth { get; init; } = 256;

    /// <summary>
    /// Longest one render may run. The other limits bound each step, not how many steps there are: a macro calling
    /// itself twice 64 levels deep stays within the call depth and never returns. Checked at every loop iteration and
    /// macro call and every few hundred expressions; real chat templates render in milliseconds.
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// </summary>
    public TimeSpan MaxRenderTime { get; init; } = TimeSpan.FromSeconds(2);
}
