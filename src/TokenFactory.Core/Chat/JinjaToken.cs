namespace TokenFactory.Chat;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,
}

/// <summary>One lexer token; <see cref="Value"/> is the text (decoded for strings), positions are 1-based.</summary>
internal readonly record struct JinjaToken(TokenKind Kind, string Value, int Line, int Column)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;

    public bool IsOp(string op) => Kind == TokenKind.Operator && Value == op;

    public override string ToString() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}
