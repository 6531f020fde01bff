namespace TokenFactory.Router.Proxy;

/// <summary>
/// One timer for a request to a replica: its answer must begin within <see cref="RouterOptions.FirstByteTimeoutSeconds"/>
/// (a replica sends headers with the first token, or with a whole non-streamed answer), and then each piece of the body
/// must follow the previous within <see cref="RouterOptions.UpstreamTimeoutSeconds"/>: <see cref="Rearm"/> on every piece
/// makes it an idle timeout. It also fires when the status poller ejects the replica as unresponsive
/// (<see cref="Replicas.Replica.Unresponsive"/>): a frozen replica's requests do not wait out those timeouts.
/// </summary>
/// <param name="progressed">Called on every piece: the replica is alive, whatever its status polls say.</param>
internal sealed class IdleTimeout(TimeSpan firstByte, TimeSpan idle, CancellationToken aborted, CancellationToken ejected, Action progressed) : IDisposable
{
    private readonly CancellationTokenSource _cts = CreateArmed(firstByte, aborted, ejected);

    public CancellationToken Token => _cts.Token;

    /// <summary>It fired (timed out, or the replica was ejected), not the client leaving.</summary>
    public bool Expired => _cts.IsCancellationRequested && !aborted.IsCancellationRequested;

    /// <summary>The replica was ejected as unresponsive while this request was on it.</summary>
    public bool Ejected => ejected.IsCancellationRequested && !aborted.IsCancellationRequested;

    public void Rearm()
    {
        progressed();
        if (!_cts.IsCancellationRequested)
            _cts.CancelAfter(idle);
    }

    public void Dispose() => _cts.Dispose();

    private static CancellationTokenSource CreateArmed(TimeSpan timeout, CancellationToken aborted, CancellationToken ejected)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted, ejected);
        cts.CancelAfter(timeout);
        return cts;
    }
}
