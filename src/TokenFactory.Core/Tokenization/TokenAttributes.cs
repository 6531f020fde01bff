namespace TokenFactory.Tokenization;

/// <summary>
/// What a vocabulary entry is, derived from <c>tokenizer.ggml.token_type</c> (1 normal, 2 unknown, 3 control,
/// 4 user-defined, 5 unused, 6 byte) plus the strip flags llama.cpp attaches to some special tokens.
/// </summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,

    /// <summary>Whitespace left of the token is swallowed when it is parsed from text.</summary>
    LStrip = 1 << 7,

    /// <summary>Whitespace right of the token is swallowed when it is parsed from text.</summary>
    RStrip = 1 << 8,
}
