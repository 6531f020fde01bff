namespace TokenFactory.Chat;

/// <summary>A parsed Jinja2 template. Parsing happens once; rendering is thread-safe (each render has its own state).</summary>
public sealed class JinjaTemplate
{
    private readonly List<Stmt> _body;
    private readonly JinjaOptions _options;

    private JinjaTemplate(List<Stmt> body, JinjaOptions options)
    {
        _body = body;
        _options = options;
    }

    /// <exception cref="TemplateException">The source has a syntax error; the message carries line and column.</exception>
    public static JinjaTemplate Parse(string source, JinjaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= JinjaOptions.HuggingFace;
        try
        {
            return new JinjaTemplate(JinjaParser.Parse(source, options), options);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateException("template nesting too deep");
        }
    }

    /// <exception cref="TemplateException">Rendering failed; <see cref="TemplateRaisedException"/> when the template called <c>raise_exception</c>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked where the time limit is).</exception>
    public string Render(IReadOnlyDictionary<string, JinjaValue> context, TimeProvider? clock = null, CancellationToken cancellationToken = default) =>
        JinjaInterpreter.Render(_body, _options, clock ?? TimeProvider.System, context, cancellationToken);
}
