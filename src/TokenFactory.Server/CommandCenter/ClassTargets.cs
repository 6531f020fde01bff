using TokenFactory.Floor.Identity;

namespace TokenFactory.Server.CommandCenter;

/// <summary>A priority class's latency targets, each a p99 goal: time to first token and time per output token.</summary>
public sealed record ClassTarget(string Name, double TtftSeconds, double TpotSeconds)
{
    /// <summary>
    /// For an interactive chat, a default API call and batch work. A router's configuration overrides them
    /// (<c>TokenFactory:Router:Classes</c>); a single server judges its requests by these.
    /// </summary>
    public static IReadOnlyList<ClassTarget> Defaults { get; } =
    [
        new(PriorityClasses.Interactive, 2, 0.2),
        new(PriorityClasses.Standard, 10, 0.5),
        new(PriorityClasses.Batch, 600, 5),
    ];

    /// <summary>Whether a finished request met both targets: served (200), first token in time, later tokens in time.</summary>
    public bool Met(int status, double ttftSeconds, double? tpotSeconds) =>
        status == 200 && ttftSeconds <= TtftSeconds && (tpotSeconds is not { } t || t <= TpotSeconds);
}

/// <summary>The classes' targets the command center judges requests by.</summary>
public interface IClassTargets
{
    /// <summary>Highest class first.</summary>
    IReadOnlyList<ClassTarget> Targets { get; }
}

internal sealed class DefaultClassTargets : IClassTargets
{
    public IReadOnlyList<ClassTarget> Targets => ClassTarget.Defaults;
}
