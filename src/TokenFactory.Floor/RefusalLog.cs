using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Floor;

/// <summary>
/// Counts refused requests in memory, per minute, key, model, endpoint, status and reason, and writes the
/// counts to the ledger in one batch every few seconds (and at shutdown). A refusal costs a dictionary
/// update, not a database write, so an overload or a client hammering a limit cannot turn into a disk
/// storm; the ledger grows by at most one row per key, reason and minute. A crash loses at most the last
/// flush interval of refusal counts (never a served request).
/// </summary>
public sealed class RefusalLog(IFloorStore store, TimeProvider time)
{
    private readonly record struct Key(long MinuteMs, string KeyId, string TeamId, string Model, string Endpoint, int Status, string Reason);

    // One lock for counting and for taking a batch: a refusal is a dictionary update, cheap beside the HTTP
    // exchange that produced it, and no count can land in a batch already being written.
    private readonly Lock _lock = new();
    private Dictionary<Key, long> _pending = [];
    private long _total;

    /// <summary>Refusals recorded since start (written or not).</summary>
    public long Total
    {
        get
        {
            lock (_lock)
                return _total;
        }
    }

    /// <summary>Refusal counts waiting for the next flush (distinct rows).</summary>
    public int PendingRows
    {
        get
        {
            lock (_lock)
                return _pending.Count;
        }
    }

    public void Record(Caller caller, string model, string endpoint, int status, string reason)
    {
        long minute = time.GetUtcNow().ToUnixTimeMilliseconds() / 60_000 * 60_000;
        var key = new Key(minute, caller.KeyId ?? "", caller.TeamId ?? "", model, endpoint, status, reason);
        lock (_lock)
        {
            _pending[key] = _pending.GetValueOrDefault(key) + 1;
            _total++;
        }
    }

    /// <summary>Writes what has been counted; on failure the counts are kept for the next attempt.</summary>
    public async Task FlushAsync(CancellationToken cancellation = default)
    {
        Dictionary<Key, long> batch;
        lock (_lock)
        {
            if (_pending.Count == 0)
                return;
            batch = _pending;
            _pending = [];
        }
        var rows = batch.Select(kv => new RefusalCount
        {
            Minute = DateTimeOffset.FromUnixTimeMilliseconds(kv.Key.MinuteMs),
            KeyId = kv.Key.KeyId.Length > 0 ? kv.Key.KeyId : null,
            TeamId = kv.Key.TeamId.Length > 0 ? kv.Key.TeamId : null,
            Model = kv.Key.Model,
            Endpoint = kv.Key.Endpoint,
            Status = kv.Key.Status,
            Reason = kv.Key.Reason,
            Count = kv.Value,
        }).ToList();
        try
        {
            await store.AddRefusalsAsync(rows, cancellation).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
            {
                foreach (var (k, n) in batch)
                    _pending[k] = _pending.GetValueOrDefault(k) + n;
            }
            throw;
        }
    }
}
