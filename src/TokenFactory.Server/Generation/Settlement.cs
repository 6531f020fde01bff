using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Api;
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

    /// <summary>Settles it as answered in full; when the ledger refuses the line this throws and the status stays open.</summary>
    public async Task CompleteAsync()
    {
        await metered.SettleAsync(requestId, 200);
        // Only now: when the ledger refused the line the client is told so (503 ledger_unavailable), and the line
        // written later (MeteredRequest.SettleWhenStopped) must say that, not 200.
        Status = 200;
    }

    /// <summary>
    /// For a stream the client has part of: settles it as answered in full, or, when the ledger refuses the line,
    /// records the error's status and returns the error, for the stream to end with it as its last event.
    /// </summary>
    public async Task<Exception?> TryCompleteAsync(HttpContext context)
    {
        try
        {
            await CompleteAsync();
            return null;
        }
        catch (Exception e)
        {
            Failed(ErrorMapper.StatusOf(context, e));
            return e;
        }
    }

    public void Failed(int status) => Status ??= status;

    /// <summary>
    /// Failed after the stream began, with the error its last event carries: when that is the engine refusing the request
    /// before any of it ran (displaced from a full queue after a keep-alive had sent the headers), the request is withdrawn
    /// and counted as a refusal rather than settled as a line of nothing.
    /// </summary>
    public void Failed(int status, Exception error)
    {
        Failed(status);
        Error ??= error;
    }

    /// <summary>The error a started stream ended with (<see cref="Failed(int, Exception)"/>), if any.</summary>
    public Exception? Error { get; private set; }
}
