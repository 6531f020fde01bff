using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Chat;

/// <summary>Picks a model's chat template: its own <c>tokenizer.chat_template</c>, else ChatML.</summary>
public static class ChatTemplates
{
    /// <param name="overrideSource">A template given by the operator, used instead of the file's.</param>
    public static (ChatTemplate Template, bool IsOwn) ForModel(GgufMetadata metadata, ITokenizer tokenizer, string? overrideSource = null)
    {
        string? source = string.IsNullOrWhiteSpace(overrideSource) ? metadata.GetStringOrNull("tokenizer.chat_template") : overrideSource;
        if (string.IsNullOrWhiteSpace(source))
            return (ChatTemplate.ChatMl, false);
        string bos = tokenizer.Bos is int b ? tokenizer.TokenPiece(b) : "";
        string eos = tokenizer.Eos is int e ? tokenizer.TokenPiece(e) : "";
        return (new ChatTemplate(source, bos, eos), true);
    }
}
