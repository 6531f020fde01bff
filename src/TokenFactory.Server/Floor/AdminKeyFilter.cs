using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Server.CommandCenter;
using TokenFactory.Floor;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Floor;

/// <summary>The /admin API answers only to the configured admin key (401 in OpenAI's shape otherwise).</summary>
internal sealed class AdminKeyFilter(FloorService floor) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        // Wrong admin keys are throttled per address as the command center's sign-in is: an operator's key cannot be guessed at speed.
        var context = invocation.HttpContext;
        var access = context.RequestServices.GetRequiredService<DashboardAccess>();
        access.ThrowIfThrottled(context);
        if (!floor.IsAdmin(context.Request.Headers.Authorization))
        {
            if (!string.IsNullOrEmpty(floor.Options.AdminKey) && FloorService.BearerSecret(context.Request.Headers.Authorization) is not null)
                access.CountFailure(context); // a key sent and wrong: a guess (no key at all is not)
            throw new OpenAiException(401, string.IsNullOrEmpty(floor.Options.AdminKey)
                ? "The admin API is disabled: set TokenFactory:Floor:AdminKey (or TOKENFACTORY_ADMIN_KEY for `tokenfactory serve`)."
                : "The admin API needs the admin key in an Authorization header using Bearer auth.", OpenAiErrorTypes.InvalidRequest, code: "invalid_admin_key");
        }
        return next(invocation);
    }
}
