namespace TokenFactory;

/// <summary>Base of every error the engine reports on purpose: bad files, bad input, unsupported models.</summary>
public class TokenFactoryException : Exception
{
    public TokenFactoryException(string message) : base(message) { }

    public TokenFactoryException(string message, Exception inner) : base(message, inner) { }
}
