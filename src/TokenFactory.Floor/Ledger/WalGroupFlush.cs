using Microsoft.Win32.SafeHandles;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// Group commit for SQLite's write-ahead log. Durable transactions commit with <c>synchronous=NORMAL</c> (their frames are
/// written to the WAL, not yet flushed) and then wait here for one <c>fsync</c> of the WAL file that starts after their commit:
/// every commit that arrives while a flush runs shares the next one. A committed transaction is on disk when its wait ends,
/// as with <c>synchronous=FULL</c>, but 1,000 settlements a second cost a few hundred flushes instead of 1,000 in a row.
/// <para>
/// A WAL file that is gone has been checkpointed into the database, which SQLite syncs after a checkpoint in this mode, so
/// there is nothing left to flush. The file is opened for each flush, so a WAL that SQLite recreated is the one flushed.
/// </para>
/// </summary>
public sealed class WalGroupFlush(string walPath, Action<string>? flush = null)
{
    private readonly Action<string> _flush = flush ?? FlushFile;
    private readonly Lock _gate = new();
    private TaskCompletionSource? _next;
    private bool _running;
    private long _flushes;

    /// <summary>Flushes run so far (each covers every commit that waited for it).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Completes once a flush that started after this call has finished (call it after the commit).</summary>
    public Task WaitAsync()
    {
        lock (_gate)
        {
            _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wait = _next.Task;
            if (!_running)
            {
                _running = true;
                _ = Task.Run(RunAsync);
            }
            return wait;
        }
    }

    private void RunAsync()
    {
        while (true)
        {
            TaskCompletionSource batch;
            lock (_gate)
            {
                if (_next is null)
                {
                    _running = false;
                    return;
                }
                batch = _next;
                _next = null;
            }
            try
            {
                _flush(walPath);
                Interlocked.Increment(ref _flushes);
                batch.SetResult();
            }
            catch (Exception e)
            {
                batch.SetException(new IOException($"Flushing the ledger's write-ahead log {walPath} failed: {e.Message}", e));
            }
        }
    }

    private static void FlushFile(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            return; // checkpointed into the database and removed: already synced
        }
        using (handle)
            RandomAccess.FlushToDisk(handle);
    }
}
