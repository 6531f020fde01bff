using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Chat;

/// <summary>Picks a model's chat template: its own <c>tokenizer.chat_template</c>, else ChatML.</summary>
public static class ChatTemplates
{
    public static (ChatTemplate Template, bool IsOwn) ForModel(GgufMetadata metadata, ITokenizer tokenizer)
    {
        string? source = metadata.GetStringOrNull("tokenizer.chat_template");
        if (string.IsNullOrWhiteSpace(source))
            return (ChatTemplate.ChatMl, false);
        string bos = tokenizer.Bos is int b ? tokenizer.TokenPiece(b) : "";
        string eos = tokenizer.Eos is int e ? tokenizer.TokenPiece(e) : "";
        return (new ChatTemplate(source, bos, eos), true);
    }
}
