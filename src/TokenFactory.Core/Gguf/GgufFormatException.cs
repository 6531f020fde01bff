namespace TokenFactory.Gguf;

/// <summary>
/// A GGUF file that cannot be used. The message names the file, the byte offset where the
/// problem was found (when there is one) and what is wrong, so a user can tell a truncated
/// download from a file written by a newer tool.
/// </summary>
public sealed class GgufFormatException : TokenFactoryException
{
    public GgufFormatException(string file, long offset, string problem)
        : base(offset >= 0 ? $"{file}: at offset {offset}: {problem}" : $"{file}: {problem}")
    {
        File = file;
        Offset = offset;
        Problem = problem;
    }

    public string File { get; }

    /// <summary>Byte offset in the file, or -1 when the problem is not tied to one place.</summary>
    public long Offset { get; }

    public string Problem { get; }
}
