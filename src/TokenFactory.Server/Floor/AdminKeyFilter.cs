using Microsoft.AspNetCore.Http;
using TokenFactory.Floor;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Floor;

/// <summary>The /admin API answers only to the configured admin key (401 in OpenAI's shape otherwise).</summary>
internal sealed class AdminKeyFilter(FloorService floor) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        if (!floor.IsAdmin(invocation.HttpContext.Request.Headers.Authorization))
            throw new OpenAiException(401, string.IsNullOrEmpty(floor.Options.AdminKey)
                ? "The admin API is disabled: set TokenFactory:Floor:AdminKey (or TOKENFACTORY_ADMIN_KEY for `tokenfactory serve`)."
                : "The admin API needs the admin key in an Authorization header using Bearer auth.", OpenAiErrorTypes.InvalidRequest, code: "invalid_admin_key");
        return next(invocation);
    }
}
