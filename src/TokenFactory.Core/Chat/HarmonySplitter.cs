using System.Text;
using System.Text.Json;

namespace TokenFactory.Chat;

/// <summary>Splits a model's streamed answer into its reasoning and its content (tool-call markup stays in the content).</summary>
public interface IAnswerSplitter
{
    /// <summary>Adds generated text; returns the reasoning and content that are now certain (either may be empty).</summary>
    (string Reasoning, string Content) Push(string text);

    /// <summary>Releases everything held back, at the end of the generation.</summary>
    (string Reasoning, string Content) Flush();

    /// <summary>
    /// The tags this splitter reads; a tag the model writes as a control token (left out of decoded text) is added back to the
    /// text before it is pushed, so the split sees it.
    /// </summary>
    IReadOnlyList<string> Tags => [];

    /// <summary>Whether text pushed now is reasoning (inside the thinking part), for counting a generation's reasoning tokens.</summary>
    bool InReasoning => false;
}

/// <summary>
/// Reads gpt-oss's "harmony" output as it streams. The answer is a run of messages, each a header, <c>&lt;|message|&gt;</c>, a body and
/// <c>&lt;|end|&gt;</c> (or the end of generation, which <c>&lt;|return|&gt;</c> or <c>&lt;|call|&gt;</c> brings); a header is
/// <c>[&lt;|start|&gt;assistant]&lt;|channel|&gt;NAME[ to=RECIPIENT][ &lt;|constrain|&gt;FORMAT]</c> (the recipient may also come before
/// the channel). The <c>analysis</c> channel is reasoning; <c>final</c>, and <c>commentary</c> addressed to no one (a preamble), are content;
/// a message to <c>functions.NAME</c> is a tool call whose body is its JSON arguments, handed on as the Hermes markup
/// <c>&lt;tool_call&gt;{"name": NAME, "arguments": BODY}&lt;/tool_call&gt;</c> for the tool-call reader (or, when
/// <see cref="HarmonySplitter(bool)"/> is told there is none, the body as content). Text that does not start with a header (a
/// grammar-constrained answer) is content. Markers split across tokens are held back until decided, so pieces concatenate to the same
/// split whatever the chunking. The markers are text because llama.cpp's convention, which the vocabulary follows, renders them.
/// </summary>
public sealed class HarmonySplitter(bool callsAsMarkup) : IAnswerSplitter
{
    public const string Start = "<|start|>", Channel = "<|channel|>", Message = "<|message|>", End = "<|end|>";
    private const string Return = "<|return|>", Call = "<|call|>";
    // A header longer than this without its <|message|> is not a header (no real one comes close).
    private const int MaxHeader = 512;
    private static readonly string[] s_bodyEnds = [End, Start, Return, Call];

    private enum Kind { Reasoning, Content, ToolCall }

    private readonly StringBuilder _pending = new();
    private bool _inBody;
    private Kind _kind;

    /// <summary>Inside an <c>analysis</c> message's body.</summary>
    public bool InReasoning => _inBody && _kind == Kind.Reasoning;

    /// <summary>Whether <paramref name="template"/> is a harmony chat template (gpt-oss's).</summary>
    public static bool IsHarmonyTemplate(string template) =>
        template.Contains(Channel, StringComparison.Ordinal) && template.Contains(Message, StringComparison.Ordinal);

    public (string Reasoning, string Content) Push(string text)
    {
        _pending.Append(text);
        return Drain(final: false);
    }

    public (string Reasoning, string Content) Flush() => Drain(final: true);

    private (string Reasoning, string Content) Drain(bool final)
    {
        var reasoning = new StringBuilder();
        var content = new StringBuilder();
        while (true)
        {
            string p = _pending.ToString();
            if (!_inBody)
            {
                int message = p.IndexOf(Message, StringComparison.Ordinal);
                if (message >= 0 && message <= MaxHeader && CouldBeHeader(p[..message]))
                {
                    OpenMessage(p[..message], content);
                    _pending.Remove(0, message + Message.Length);
                    continue;
                }
                if (p.Length == 0 || (!final && p.Length <= MaxHeader && CouldBeHeader(p)))
                    break;
                if (final && CouldBeHeader(p))
                {
                    _pending.Clear(); // cut off inside a header: markup, not an answer
                    break;
                }
                // Not a header: the answer is plain text (a grammar-constrained answer, a model that skips the format).
                _inBody = true;
                _kind = Kind.Content;
                continue;
            }

            int end = -1;
            string? marker = null;
            foreach (string m in s_bodyEnds)
            {
                int at = p.IndexOf(m, StringComparison.Ordinal);
                if (at >= 0 && (end < 0 || at < end))
                    (end, marker) = (at, m);
            }
            if (end >= 0)
            {
                Emit(p[..end], reasoning, content);
                CloseMessage(content);
                // <|start|> begins the next message's header (kept for it); the other markers end this one.
                _pending.Remove(0, end + (marker == Start ? 0 : marker!.Length));
                continue;
            }
            int hold = final ? 0 : HeldBack(p);
            Emit(p[..^hold], reasoning, content);
            _pending.Remove(0, p.Length - hold);
            if (final)
                CloseMessage(content);
            break;
        }
        return (reasoning.ToString(), content.ToString());
    }

    /// <summary>Whether <paramref name="text"/> is (the beginning of) a header: it starts with <c>&lt;|start|&gt;</c> or <c>&lt;|channel|&gt;</c>.</summary>
    private static bool CouldBeHeader(string text)
    {
        string t = text.TrimStart();
        return t.Length == 0 || t.StartsWith(Start, StringComparison.Ordinal) || t.StartsWith(Channel, StringComparison.Ordinal)
            || Start.StartsWith(t, StringComparison.Ordinal) || Channel.StartsWith(t, StringComparison.Ordinal);
    }

    private void OpenMessage(string header, StringBuilder content)
    {
        _inBody = true;
        string? recipient = RecipientOf(header);
        string channel = ChannelName(header);
        if (recipient is not null && recipient != "all")
        {
            _kind = Kind.ToolCall;
            if (callsAsMarkup)
            {
                string name = recipient.StartsWith("functions.", StringComparison.Ordinal) ? recipient["functions.".Length..] : recipient;
                content.Append("<tool_call>\n{\"name\": ").Append(JsonSerializer.Serialize(name)).Append(", \"arguments\": ");
            }
            return;
        }
        _kind = channel == "analysis" ? Kind.Reasoning : Kind.Content;
    }

    private void CloseMessage(StringBuilder content)
    {
        if (_inBody && _kind == Kind.ToolCall && callsAsMarkup)
            content.Append("}\n</tool_call>");
        _inBody = false;
    }

    private void Emit(string text, StringBuilder reasoning, StringBuilder content)
    {
        if (text.Length > 0)
            (_kind == Kind.Reasoning ? reasoning : content).Append(text);
    }

    /// <summary>Characters at the end of <paramref name="p"/> that may be the start of a marker ending the body.</summary>
    private static int HeldBack(string p)
    {
        int hold = 0;
        foreach (string m in s_bodyEnds)
        {
            for (int n = Math.Min(m.Length - 1, p.Length); n > hold; n--)
            {
                if (p.AsSpan(p.Length - n).SequenceEqual(m.AsSpan(0, n)))
                {
                    hold = n;
                    break;
                }
            }
        }
        return hold;
    }

    /// <summary>The header's <c>to=RECIPIENT</c> (up to whitespace or the next marker), or null.</summary>
    private static string? RecipientOf(string header)
    {
        int at = header.IndexOf("to=", StringComparison.Ordinal);
        if (at < 0)
            return null;
        int start = at + 3, end = start;
        while (end < header.Length && !char.IsWhiteSpace(header[end]) && header[end] != '<')
            end++;
        return end > start ? header[start..end] : null;
    }

    /// <summary>The channel's name after <c>&lt;|channel|&gt;</c> (letters and underscores), or "".</summary>
    private static string ChannelName(string header)
    {
        int at = header.IndexOf(Channel, StringComparison.Ordinal);
        if (at < 0)
            return "";
        int start = at + Channel.Length;
        while (start < header.Length && char.IsWhiteSpace(header[start]))
            start++;
        int end = start;
        while (end < header.Length && (char.IsAsciiLetter(header[end]) || header[end] == '_'))
            end++;
        return header[start..end];
    }
}
