using System.Text.Json.Nodes;

namespace TokenFactory.Chat;

/// <summary>
/// A model's <c>tokenizer.chat_template</c>, rendered the way Hugging Face's <c>apply_chat_template</c> does
/// (trim_blocks, lstrip_blocks, loop controls, <c>raise_exception</c>, <c>strftime_now</c>).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The ChatML template transformers used as its default for models that ship none.</summary>
    public const string ChatMlSource =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private readonly JinjaTemplate _template;
    private readonly TimeProvider _clock;

    /// <exception cref="TemplateException">The template does not parse.</exception>
    public ChatTemplate(string source, string bosToken, string eosToken, TimeProvider? clock = null)
    {
        _template = JinjaTemplate.Parse(source, JinjaOptions.HuggingFace);
        Source = source;
        BosToken = bosToken;
        EosToken = eosToken;
        _clock = clock ?? TimeProvider.System;
    }

    public static ChatTemplate ChatMl { get; } = new(ChatMlSource, "", "<|im_end|>");

    public string Source { get; }

    public string BosToken { get; }

    public string EosToken { get; }

    /// <summary>Renders a conversation. <paramref name="tools"/> is left undefined in the template when null, as transformers does for an empty tool list.</summary>
    /// <exception cref="TemplateRaisedException">The template rejected the conversation (for example, roles not alternating).</exception>
    /// <exception cref="TemplateException">The template failed while rendering.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public string Render(JsonArray messages, bool addGenerationPrompt, JsonArray? tools = null, IReadOnlyDictionary<string, JsonNode?>? extraContext = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var context = new Dictionary<string, JinjaValue>(StringComparer.Ordinal)
        {
            ["messages"] = JinjaValue.FromJson(messages),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = BosToken,
            ["eos_token"] = EosToken,
        };
        if (tools is not null) context["tools"] = JinjaValue.FromJson(tools);
        if (extraContext is not null)
            foreach (var (k, v) in extraContext) context[k] = JinjaValue.FromJson(v);
        return _template.Render(context, _clock, cancellationToken);
    }
}
