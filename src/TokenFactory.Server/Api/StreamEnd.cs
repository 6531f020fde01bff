using Microsoft.AspNetCore.Http;

namespace TokenFactory.Server.Api;

/// <summary>
/// Whether a streamed answer sent its end (<c>data: [DONE]</c>): a failure after that leaves the answer as it is, while one
/// before it drops the connection, so no client takes a cut stream for a whole one (<see cref="ErrorHandlingMiddleware"/>).
/// </summary>
public static class StreamEnd
{
    private static readonly object Key = new();

    public static void Mark(HttpContext context) => context.Items[Key] = true;

    public static bool IsMarked(HttpContext context) => context.Items.ContainsKey(Key);
}
