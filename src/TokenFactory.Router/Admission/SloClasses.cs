using Microsoft.Extensions.Options;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Router.Admission;

/// <summary>
/// The priority classes' targets: time to first token (a request's deadline is its arrival plus its class's TTFT)
/// and time per output token, each a p99 goal. Defaults for an interactive chat, a default API call and batch work;
/// <see cref="RouterOptions.Classes"/> overrides them.
/// </summary>
public sealed class SloClasses : Server.CommandCenter.IClassTargets
{
    private readonly Dictionary<string, SloTargets> _targets = Server.CommandCenter.ClassTarget.Defaults.ToDictionary(
        c => c.Name, c => new SloTargets { TtftSeconds = c.TtftSeconds, TpotSeconds = c.TpotSeconds }, StringComparer.OrdinalIgnoreCase);

    public SloClasses(IOptions<RouterOptions> options)
    {
        foreach (var (name, targets) in options.Value.Classes)
        {
            if (!PriorityClasses.IsKnown(name))
                throw new TokenFactoryException($"TokenFactory:Router:Classes:{name}: the classes are interactive, standard and batch.");
            if (!(targets.TtftSeconds > 0) || !(targets.TpotSeconds > 0))
                throw new TokenFactoryException($"TokenFactory:Router:Classes:{name}: TtftSeconds and TpotSeconds must be positive.");
            _targets[name] = targets;
        }
    }

    public SloTargets this[string priority] => _targets[priority];

    /// <summary>The same targets for the command center (read on every settlement: built once).</summary>
    public IReadOnlyList<Server.CommandCenter.ClassTarget> Targets => _classTargets ??=
        [.. PriorityClasses.All.Select(name => new Server.CommandCenter.ClassTarget(name, _targets[name].TtftSeconds, _targets[name].TpotSeconds))];

    private IReadOnlyList<Server.CommandCenter.ClassTarget>? _classTargets;

    /// <summary>
    /// The class a request runs in: the caller's own (key, else team, else standard), or a lower one it asks for with
    /// OpenAI's <c>service_tier</c> (<c>flex</c> is batch, <c>priority</c> interactive, <c>default</c>/<c>auto</c> its own).
    /// </summary>
    /// <exception cref="Server.Api.OpenAiException">It asks for a class above the caller's.</exception>
    public static string Resolve(Caller caller, string? serviceTier)
    {
        string entitled = PriorityClasses.Of(caller);
        string? asked = serviceTier switch
        {
            null or "auto" or "default" => null,
            "priority" => PriorityClasses.Interactive,
            "flex" => PriorityClasses.Batch,
            _ => throw Server.Api.OpenAiException.Invalid($"'service_tier' must be auto, default, priority or flex; got '{serviceTier}'.", "service_tier"),
        };
        if (asked is null)
            return entitled;
        if (PriorityClasses.Rank(asked) < PriorityClasses.Rank(entitled))
            throw new Server.Api.OpenAiException(403, $"'service_tier' '{serviceTier}' asks for the {asked} class; this key is served as {entitled} at most.",
                Server.Api.OpenAiErrorTypes.InvalidRequest, "service_tier", "service_tier_not_allowed");
        return asked;
    }
}
