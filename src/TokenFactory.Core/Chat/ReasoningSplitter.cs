using System.Text;

namespace TokenFactory.Chat;

/// <summary>
/// Splits a reasoning model's output into its thinking and its answer as the text streams in: text between
/// <c>&lt;think&gt;</c> and <c>&lt;/think&gt;</c> is reasoning, the rest is content (DeepSeek-R1, Qwen3, Nemotron 3 and
/// their kin; the OpenAI-compatible field for it is <c>reasoning_content</c>, as vLLM and llama.cpp's server use). Gemma 4
/// writes its thinking between <c>&lt;|channel&gt;thought</c> and <c>&lt;channel|&gt;</c> (<see cref="TagsFor"/>).
/// <para>
/// Generation starts inside the reasoning when the prompt left a <c>&lt;think&gt;</c> open (the template's generation
/// prompt ends with it, as Nemotron 3's does); otherwise a leading <c>&lt;think&gt;</c> in the output opens it. Text that
/// might still become a tag is held back until it is decided, so a tag split across tokens is never leaked; the
/// whitespace the templates put around the tags (<c>&lt;think&gt;\n…\n&lt;/think&gt;\n</c>) is dropped. A generation
/// cut off inside its reasoning has only reasoning. Pieces from <see cref="Push"/> and <see cref="Flush"/> concatenate
/// to the same split whatever the chunking.
/// </para>
/// </summary>
public sealed class ReasoningSplitter : IAnswerSplitter
{
    public const string Open = "<think>";
    public const string Close = "</think>";
    public const string GemmaOpen = "<|channel>thought";
    public const string GemmaClose = "<channel|>";

    private enum State { Start, Reasoning, Content }

    private readonly string _open, _close;

    private readonly StringBuilder _pending = new();
    private State _state;
    // At the start of reasoning, or of the answer after "</think>": the template's whitespace there is dropped.
    private bool _trimLeading;

    /// <param name="open">The tag that opens reasoning (<see cref="TagsFor"/> picks the template's).</param>
    public ReasoningSplitter(bool startsInReasoning, string open = Open, string close = Close)
    {
        _open = open;
        _close = close;
        _tags = [open, close];
        _state = startsInReasoning ? State.Reasoning : State.Start;
        _trimLeading = startsInReasoning;
    }

    private readonly string[] _tags;

    /// <summary>The tags it may still read: none once the answer is content (a control token then stays out of the text).</summary>
    public IReadOnlyList<string> Tags => _state == State.Content ? [] : _tags;

    /// <summary>Between the opening tag (or a prompt that opened it) and the closing one.</summary>
    public bool InReasoning => _state == State.Reasoning;

    /// <summary>The reasoning tags a chat template's model writes: Gemma 4's channel when the template has it, else <c>&lt;think&gt;</c>.</summary>
    public static (string Open, string Close) TagsFor(string template) =>
        template.Contains("<|channel>", StringComparison.Ordinal) && template.Contains(GemmaClose, StringComparison.Ordinal) ? (GemmaOpen, GemmaClose) : (Open, Close);

    /// <summary>
    /// Whether <paramref name="prompt"/> ends inside an open reasoning block (<c>&lt;think&gt;</c> unless other tags are given):
    /// its generation prompt opens one, so the tag is the last thing in it (whitespace aside). A tag anywhere else is in a
    /// message (a user asking what <c>&lt;think&gt;</c> means) and opens nothing.
    /// </summary>
    public static bool PromptOpensReasoning(string prompt, string open = Open)
    {
        int at = prompt.LastIndexOf(open, StringComparison.Ordinal);
        return at >= 0 && prompt.AsSpan(at + open.Length).IsWhiteSpace();
    }

    /// <summary>Adds generated text; returns the reasoning and content that are now certain (either may be empty).</summary>
    public (string Reasoning, string Content) Push(string text)
    {
        _pending.Append(text);
        return Drain(final: false);
    }

    /// <summary>Releases everything held back, at the end of the generation.</summary>
    public (string Reasoning, string Content) Flush() => Drain(final: true);

    private (string Reasoning, string Content) Drain(bool final)
    {
        var reasoning = new StringBuilder();
        var content = new StringBuilder();
        while (_pending.Length > 0)
        {
            string p = _pending.ToString();
            if (_trimLeading && _state != State.Start)
            {
                int whitespace = LeadingWhitespace(p);
                _pending.Remove(0, whitespace);
                if (whitespace == p.Length)
                    break;
                _trimLeading = false;
                continue;
            }
            if (_state == State.Start)
            {
                int lead = LeadingWhitespace(p);
                string rest = p[lead..];
                if (rest.StartsWith(_open, StringComparison.Ordinal))
                {
                    _pending.Remove(0, lead + _open.Length);
                    _state = State.Reasoning;
                    _trimLeading = true;
                    continue;
                }
                if (!final && _open.StartsWith(rest, StringComparison.Ordinal))
                    break; // could still be "<think>"
                _state = State.Content; // an ordinary answer: keep it exactly, leading whitespace included
                continue;
            }
            if (_state == State.Reasoning)
            {
                int close = p.IndexOf(_close, StringComparison.Ordinal);
                if (close >= 0)
                {
                    reasoning.Append(p.AsSpan(0, close).TrimEnd());
                    _pending.Remove(0, close + _close.Length);
                    _state = State.Content;
                    _trimLeading = true;
                    continue;
                }
                int keep = final ? 0 : HeldBack(p, _close);
                reasoning.Append(p.AsSpan(0, p.Length - keep));
                _pending.Remove(0, p.Length - keep);
                if (final)
                    reasoning.Length = reasoning.ToString().TrimEnd().Length;
                break;
            }
            content.Append(p);
            _pending.Clear();
        }
        return (reasoning.ToString(), content.ToString());
    }

    private static int LeadingWhitespace(string p)
    {
        int n = 0;
        while (n < p.Length && char.IsWhiteSpace(p[n]))
            n++;
        return n;
    }

    /// <summary>Characters at the end of reasoning text to hold back: a possible start of "&lt;/think&gt;" and the whitespace before it.</summary>
    private static int HeldBack(string p, string close)
    {
        int keep = 0;
        for (int n = Math.Min(close.Length - 1, p.Length); n > 0; n--)
        {
            if (close.AsSpan(0, n).SequenceEqual(p.AsSpan(p.Length - n)))
            {
                keep = n;
                break;
            }
        }
        while (keep < p.Length && char.IsWhiteSpace(p[p.Length - keep - 1]))
            keep++;
        return keep;
    }
}
