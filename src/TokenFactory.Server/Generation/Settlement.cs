using TokenFactory.Server.Floor;

namespace TokenFactory.Server.Generation;

/// <summary>
/// How a response tells the floor how it ended: complete (settled at once, before the response's last
/// byte) or failed after its stream had started (the error went out as an event; the status is recorded).
/// </summary>
internal sealed class Settlement(MeteredRequest metered, string requestId)
{
    /// <summary>The status the ledger records; null until the response said how it ended.</summary>
    public int? Status { get; private set; }

    public Task CompleteAsync()
    {
        Status = 200;
        return metered.SettleAsync(requestId, 200);
    }

    public void Failed(int status) => Status ??= status;
}
