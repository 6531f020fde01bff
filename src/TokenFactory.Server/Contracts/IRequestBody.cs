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

    /// <summary>Objects inside the body that are checked the same way, with the prefix their fields' names take.</summary>
    IEnumerable<(string Prefix, IRequestBody Body)> Nested => [];
}
