using System.Globalization;

namespace TokenFactory.Engine;

/// <summary>A generation request the engine refuses: which parameter, the value it had, and what it must be.</summary>
public sealed class InvalidGenerationRequestException(GenerationParameter parameter, double value, string requirement)
    : TokenFactoryException($"{parameter} must be {requirement}, not {value.ToString(CultureInfo.InvariantCulture)}.")
{
    public GenerationParameter Parameter { get; } = parameter;

    /// <summary>The offending value (for <see cref="GenerationParameter.Prompt"/>: the token id, or 0 for an empty prompt).</summary>
    public double Value { get; } = value;

    /// <summary>The bound it broke, in plain words: "between 0 and 100", "in (0, 1]", "at least one token".</summary>
    public string Requirement { get; } = requirement;
}
