using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using TokenFactory.Engine;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Fleet;

/// <summary>
/// A request the fleet's router forwarded (it carried the internal token), with what its headers said. Set on the
/// request by <see cref="InternalTokenMiddleware"/>; its caller is <see cref="TokenFactory.Floor.Identity.Caller.Internal"/>.
/// </summary>
internal sealed record FleetRequest(string? Tenant, PriorityClass Priority, string? RequestId)
{
    private const int MaxTenantLength = 256, MaxRequestIdLength = 128;

    public static FleetRequest? Of(HttpContext context) => context.Features.Get<FleetRequest>();

    /// <exception cref="OpenAiException">400 naming a header that is repeated or malformed.</exception>
    public static FleetRequest Read(IHeaderDictionary headers)
    {
        string? tenant = Single(headers, FleetHeaders.Tenant);
        if (tenant is not null && (tenant.Length is 0 or > MaxTenantLength || tenant.Any(char.IsControl)))
            throw Invalid(FleetHeaders.Tenant, $"must be 1 to {MaxTenantLength} characters without control characters");
        var priority = PriorityClass.Standard;
        if (Single(headers, FleetHeaders.Priority) is { } p && !FleetHeaders.TryParsePriority(p, out priority))
            throw Invalid(FleetHeaders.Priority, "must be interactive, standard or batch");
        string? id = Single(headers, FleetHeaders.RequestId);
        if (id is not null && (id.Length is 0 or > MaxRequestIdLength || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')))
            throw Invalid(FleetHeaders.RequestId, $"must be 1 to {MaxRequestIdLength} ASCII letters, digits, '-', '_', '.' or ':'");
        return new FleetRequest(tenant, priority, id);
    }

    private static string? Single(IHeaderDictionary headers, string name)
    {
        StringValues values = headers[name];
        return values.Count switch
        {
            0 => null,
            1 => values[0]?.Trim(),
            _ => throw Invalid(name, "must be sent once"),
        };
    }

    private static OpenAiException Invalid(string header, string rule) =>
        OpenAiException.Invalid($"The header {header} {rule}.", header, "invalid_header");
}
