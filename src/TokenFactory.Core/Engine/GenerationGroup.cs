namespace TokenFactory.Engine;

/// <summary>
/// The choices of one request (<c>n</c> of them, or one per prompt of a batch), submitted together: the engine
/// admits or refuses them as one unit and counts them as one waiting request, whatever their number.
/// </summary>
public sealed record GenerationGroup
{
    public required IReadOnlyList<GenerationRequest> Choices { get; init; }

    /// <summary>
    /// Whose request this is (an API key, a user): when sequences wait, the engine starts first those of the
    /// tenant with the fewest running, and a full queue makes room by refusing the newest request of the tenant
    /// holding the most of it, so no caller can starve the others.
    /// </summary>
    public string Tenant { get; init; } = "";

    /// <summary>Its class: waiting work is started, prompts planned and victims of preemption chosen by it (<see cref="PriorityClass"/>).</summary>
    public PriorityClass Priority { get; init; } = PriorityClass.Standard;
}
