using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Chat;

/// <summary>Picks a model's chat template: its own <c>tokenizer.chat_template</c>, else ChatML.</summary>
public static class ChatTemplates
{
    /// <param name="overrideSource">A template given by the operator, used instead of the file's.</param>
    /// <exception cref="TemplateException">The template does not parse; the message says which template it is.</exception>
    public static (ChatTemplate Template, bool IsOwn) ForModel(GgufMetadata metadata, ITokenizer tokenizer, string? overrideSource = null)
    {
        bool isOverride = !string.IsNullOrWhiteSpace(overrideSource);
        string? source = isOverride ? overrideSource : metadata.GetStringOrNull("tokenizer.chat_template");
        if (string.IsNullOrWhiteSpace(source))
            return (ChatTemplate.ChatMl, false);
        string bos = tokenizer.Bos is int b ? tokenizer.TokenPiece(b) : "";
        string eos = tokenizer.Eos is int e ? tokenizer.TokenPiece(e) : "";
        try
        {
            return (new ChatTemplate(source, bos, eos), true);
        }
        catch (TemplateException error)
        {
            // A bare "unexpected '}' (line 3, column 7)" at load reads like a broken model or server; say whose template it is.
            string which = isOverride ? "The chat template given by the operator" : $"The model's chat template (tokenizer.chat_template in {metadata.Source})";
            throw new TemplateException($"{which} does not parse: {error.Message}", error);
        }
    }
}
