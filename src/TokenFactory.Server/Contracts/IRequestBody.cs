using System.Text.Json;

namespace TokenFactory.Server.Contracts;

/// <summary>
/// A JSON body the server reads. Fields it does not know land in <see cref="Unrecognized"/> (a
/// <c>[JsonExtensionData]</c> property) and the request is refused naming the first of them: a parameter
/// is honoured or refused, never silently ignored.
/// </summary>
public interface IRequestBody
{
    Dictionary<string, JsonElement>? Unrecognized { get; }

    /// <summary>
    /// Objects inside the body that are checked the same way, with the prefix their fields' names take. A method, not a
    /// property: the serializer would take a property's name as a known field (even with <c>[JsonIgnore]</c>) and skip a
    /// client's <c>"nested"</c> key silently instead of refusing it.
    /// </summary>
    IEnumerable<(string Prefix, IRequestBody Body)> NestedBodies() => [];
}
