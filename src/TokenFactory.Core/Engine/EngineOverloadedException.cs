namespace TokenFactory.Engine;

/// <summary>
/// The request did not run: the engine's bounded wait queue was full, or it was waiting when a request of a tenant
/// holding less of the queue took its place. Nothing of it ran; hosts decide what to advise the caller.
/// </summary>
public sealed class EngineOverloadedException(int waiting, int capacity, bool displaced = false)
    : TokenFactoryException(displaced
        ? $"The engine's wait queue is full ({capacity} requests) and this request, from the caller holding the most of it, gave its place to another caller's."
        : $"The engine's wait queue is full: {waiting} requests are waiting, {capacity} may.")
{
    /// <summary>Requests waiting when this one was refused.</summary>
    public int Waiting { get; } = waiting;

    /// <summary>How many may wait (<see cref="EngineOptions.MaxWaitingRequests"/>).</summary>
    public int Capacity { get; } = capacity;

    /// <summary>It had been queued, then gave its place to a request of a tenant that held less of the queue.</summary>
    public bool Displaced { get; } = displaced;
}
