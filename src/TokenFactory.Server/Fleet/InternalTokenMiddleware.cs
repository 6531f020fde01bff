using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TokenFactory.Floor.Identity;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Fleet;

/// <summary>
/// A replica behind a fleet's router (<see cref="FleetSettings.InternalToken"/> set) answers only the router: every
/// request except <c>GET /health</c> (the orchestrator's probe) needs <c>Authorization: Bearer &lt;internal token&gt;</c>
/// (401 <c>invalid_internal_token</c>). Such a request is the router's (<see cref="FleetRequest"/>), and only then are the
/// router's headers (<see cref="FleetHeaders"/>) believed; anywhere else they are refused (400 naming the header), not ignored.
/// </summary>
internal sealed class InternalTokenMiddleware(RequestDelegate next, IOptions<ServerOptions> options, bool acceptsRouter)
{
    public Task InvokeAsync(HttpContext context)
    {
        string? token = acceptsRouter ? options.Value.Fleet.InternalToken : null;
        var request = context.Request;
        bool fromRouter = !string.IsNullOrEmpty(token) && BearerToken(request.Headers.Authorization) is { Length: > 0 } presented
            && ApiKeySecrets.SameSecret(presented, token);
        if (fromRouter)
        {
            context.Features.Set(FleetRequest.Read(request.Headers));
            return next(context);
        }
        if (!string.IsNullOrEmpty(token) && !IsHealthProbe(request))
            throw new OpenAiException(401, "This server is a replica behind a fleet's router and answers only requests carrying its internal token; send requests to the router.",
                OpenAiErrorTypes.InvalidRequest, code: "invalid_internal_token");
        foreach (string header in FleetHeaders.All)
        {
            if (request.Headers.ContainsKey(header))
                throw OpenAiException.Invalid($"The header {header} is accepted only from the fleet's router (with the internal token).", header, "untrusted_header");
        }
        return next(context);
    }

    private static bool IsHealthProbe(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) && request.Path.Equals(ReplicaEndpoints.Health, StringComparison.Ordinal);

    private static string? BearerToken(string? authorization)
    {
        const string scheme = "Bearer ";
        return authorization is not null && authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? authorization[scheme.Length..].Trim() : null;
    }
}
