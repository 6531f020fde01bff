namespace TokenFactory.Engine;

/// <summary>
/// The server stopped a request that had not begun, at its shutdown deadline (the server answers 503
/// <c>server_shutting_down</c>, so the client retries elsewhere rather than seeing its connection cut).
/// </summary>
public sealed class EngineStoppedException() : TokenFactoryException("The server stopped this request because it is shutting down; retry on another replica or shortly.");
