using Microsoft.AspNetCore.Http;
using TokenFactory.Floor;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Server.Floor;

/// <summary>Who is calling, set on the request by <see cref="FloorFilter"/> for the endpoints that need it.</summary>
internal sealed class CallerFeature(Caller caller)
{
    public Caller Caller { get; } = caller;

    /// <exception cref="InvalidOperationException">The endpoint is not behind the floor's filter.</exception>
    public static Caller Of(HttpContext context) =>
        context.Features.Get<CallerFeature>()?.Caller ?? throw new InvalidOperationException("The floor's filter did not run for this endpoint.");

    /// <summary>A key restricted to other models may not use this one, whatever the endpoint (403 model_not_allowed).</summary>
    public static void CheckModel(HttpContext context, string model) => FloorService.CheckModel(Of(context), model);
}

/// <summary>Marks an endpoint as a generation endpoint: admitted and metered, its refusals recorded under this name.</summary>
internal sealed record GenerationEndpoint(string Name);
