using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Generation.Tools;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Generation;

/// <summary>
/// One choice's answer as it streams, taken apart the same way for every API that returns it: a reasoning model's
/// thinking split off, tool-call markup read into calls (control-token markers added back from the token ids), the
/// rest content. Not thread-safe: one per choice.
/// </summary>
internal sealed class ChoiceReader(ITokenizer tokenizer, IAnswerSplitter? splitter, ToolCallExtractor? extractor, ToolCallSyntax? syntax)
{
    /// <summary>What a piece of generation adds: thinking, content, and pieces of tool calls (for a stream's deltas).</summary>
    public readonly record struct Piece(string Reasoning, string Content, List<ToolCallExtractor.CallPiece> Calls)
    {
        public bool IsEmpty => Reasoning.Length == 0 && Content.Length == 0 && Calls.Count == 0;
    }

    /// <summary>The calls read so far (complete ones with all their arguments).</summary>
    public IReadOnlyList<ToolCall> Calls => extractor?.Calls ?? [];

    /// <summary>Generated tokens read while the answer was in its reasoning (the closing tag's among them, the opening one's not).</summary>
    public int ReasoningTokens { get; private set; }

    public Piece Read(GenerationUpdate update)
    {
        if (update.Token >= 0 && splitter is { InReasoning: true })
            ReasoningTokens++;
        string text = update.Text;
        if (splitter is { Tags.Count: > 0 } && ControlText(update.Token) is { } tag && splitter.Tags.Any(t => t.StartsWith(tag, StringComparison.Ordinal)))
            text += tag; // a reasoning tag written as a control token (Gemma 4's channel markers may be)
        var (reasoning, content) = splitter?.Push(text) ?? ("", text);
        if (syntax?.MarkerOf(tokenizer, update.Token) is { Length: > 0 } marker)
            content += marker;
        return Through(reasoning, content, end: false, cut: false);
    }

    /// <summary>The text of a control token (decoded output leaves it out), or null.</summary>
    private string? ControlText(int token) =>
        token >= 0 && token < tokenizer.VocabSize && tokenizer.TokenBytes(token, special: false).Length == 0 ? tokenizer.TokenPiece(token, special: true) : null;

    /// <summary>The answer ended (<paramref name="cut"/>: by its length limit): whatever was held back.</summary>
    public Piece Finish(bool cut)
    {
        var (reasoning, content) = splitter?.Flush() ?? ("", "");
        return Through(reasoning, content, end: true, cut);
    }

    private Piece Through(string reasoning, string content, bool end, bool cut)
    {
        if (extractor is null)
            return new Piece(reasoning, content, []);
        string text = extractor.Push(content).Content;
        if (end)
            text += extractor.Flush(cut).Content;
        return new Piece(reasoning, text, extractor.TakePieces());
    }
}
