namespace TokenFactory.Engine;

/// <summary>The request was not queued: the engine's bounded wait queue is full. Nothing of it ran; hosts decide what to advise the caller.</summary>
public sealed class EngineOverloadedException(int waiting, int capacity)
    : TokenFactoryException($"The engine's wait queue is full: {waiting} requests are waiting, {capacity} may.")
{
    /// <summary>Requests waiting when this one was refused.</summary>
    public int Waiting { get; } = waiting;

    /// <summary>How many may wait (<see cref="EngineOptions.MaxWaitingRequests"/>).</summary>
    public int Capacity { get; } = capacity;
}
