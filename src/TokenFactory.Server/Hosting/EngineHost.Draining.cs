using TokenFactory.Server.Api;

namespace TokenFactory.Server.Hosting;

/// <summary>
/// Draining at shutdown: from the first signal new generations are refused (503 <c>server_draining</c>) while those in
/// flight run on; the host waits for them (<see cref="Drained"/>) before Kestrel stops, so the server keeps answering,
/// and its status says so, until the last one ends or the shutdown deadline passes.
/// </summary>
public sealed partial class EngineHost
{
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlight;
    private bool _draining;

    public bool IsDraining
    {
        get
        {
            lock (_lock)
                return _draining;
        }
    }

    /// <summary>Generations admitted and not yet answered in full.</summary>
    public int GenerationsInFlight
    {
        get
        {
            lock (_lock)
                return _inFlight;
        }
    }

    /// <summary>Completes once draining began and no generation is in flight.</summary>
    public Task Drained => _drained.Task;

    /// <summary>Stops taking generations; idempotent.</summary>
    public void BeginDraining()
    {
        lock (_lock)
        {
            _draining = true;
            if (_inFlight == 0)
                _drained.TrySetResult();
        }
    }

    /// <summary>Counts a generation in flight until the returned lease is disposed (once its response ended).</summary>
    /// <exception cref="OpenAiException">503 server_draining once draining began.</exception>
    public IDisposable EnterGeneration(int retryAfterSeconds)
    {
        lock (_lock)
        {
            if (_draining)
                throw Draining(retryAfterSeconds);
            _inFlight++;
        }
        return new GenerationLease(this);
    }

    internal static OpenAiException Draining(int retryAfterSeconds) =>
        new(503, "The server is shutting down and takes no new generations; retry on another replica or shortly.", OpenAiErrorTypes.Unavailable,
            code: "server_draining") { RetryAfterSeconds = retryAfterSeconds };

    private void ExitGeneration()
    {
        lock (_lock)
        {
            _inFlight--;
            if (_draining && _inFlight == 0)
                _drained.TrySetResult();
        }
    }

    private sealed class GenerationLease(EngineHost host) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                host.ExitGeneration();
        }
    }
}
