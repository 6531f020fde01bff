namespace TokenFactory.Chat;

/// <summary>Any failure to parse or render a template: syntax errors, type errors, undefined values, resource limits.</summary>
public class TemplateException : Exception
{
    public TemplateException(string message) : base(message) { }

    public TemplateException(string message, Exception innerException) : base(message, innerException) { }

    public TemplateException(string message, int line, int column)
        : base($"{message} (line {line}, column {column})")
    {
        Line = line;
        Column = column;
    }

    /// <summary>1-based source line of a syntax error, or 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>1-based source column of a syntax error, or 0 when unknown.</summary>
    public int Column { get; }
}

/// <summary>
/// Raised by the template itself through <c>raise_exception(msg)</c>; <see cref="Exception.Message"/> is exactly the
/// template's message so a server can hand it to the client unchanged.
/// </summary>
public sealed class TemplateRaisedException : TemplateException
{
    public TemplateRaisedException(string message) : base(message) { }
}
