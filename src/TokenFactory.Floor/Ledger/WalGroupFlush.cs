using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// Group commit for SQLite's write-ahead log. Durable transactions commit with <c>synchronous=NORMAL</c> (their frames are
/// written to the WAL, not yet flushed) and then wait here for one <c>fsync</c> of the WAL file that starts after their commit:
/// every commit that arrives while a flush runs shares the next one. A committed transaction is on disk when its wait ends,
/// as with <c>synchronous=FULL</c>, but 1,000 settlements a second cost a few hundred flushes instead of 1,000 in a row.
/// <list type="bullet">
/// <item>The WAL is opened by path for each flush, so a log SQLite recreated is the one flushed; a new log's directory entry is
/// flushed too (once per log, as SQLite does when it syncs a new journal itself).</item>
/// <item>A missing WAL has been checkpointed into the database and removed; the database file is flushed instead.</item>
/// <item>A failed flush fails every later wait as well (fail-stop, as PostgreSQL does): after a failed <c>fsync</c> Linux may
/// mark the lost pages clean, so a later flush could succeed over a hole in the log, and recovery would drop every commit
/// after the hole. The process must be restarted; recovery then keeps what reached the disk.</item>
/// </list>
/// </summary>
public sealed partial class WalGroupFlush
{
    private readonly string _walPath;
    private readonly string _databasePath;
    private readonly Action<string> _flush;
    private readonly Lock _gate = new();
    private TaskCompletionSource? _next;
    private bool _running;
    private long _flushes;
    private Exception? _failed;
    private DateTime _walCreated;

    /// <param name="databasePath">The database file as SQLite resolved it (symbolic links followed): the WAL is this plus <c>-wal</c>.</param>
    /// <param name="flush">Flushes the file at the path given (tests observe, hold or fail it); null: fsync.</param>
    public WalGroupFlush(string databasePath, Action<string>? flush = null)
    {
        _databasePath = databasePath;
        _walPath = databasePath + "-wal";
        _flush = flush ?? FlushFile;
    }

    /// <summary>The database file whose WAL this flushes.</summary>
    public string DatabasePath => _databasePath;

    /// <summary>Flushes run so far (each covers every commit that waited for it).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Completes once a flush that started after this call has finished (call it after the commit).</summary>
    public Task WaitAsync()
    {
        lock (_gate)
        {
            if (_failed is not null)
                return Task.FromException(Failure(_failed));
            _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wait = _next.Task;
            if (!_running)
            {
                _running = true;
                _ = Task.Run(FlushLoop);
            }
            return wait;
        }
    }

    private IOException Failure(Exception cause) =>
        new($"Flushing the ledger's write-ahead log {_walPath} failed ({cause.Message}); no further write is confirmed as durable until the process restarts.", cause);

    private void FlushLoop()
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
                if (File.Exists(_walPath))
                    FlushWal();
                else
                    _flush(_databasePath); // checkpointed into the database and removed
                Interlocked.Increment(ref _flushes);
                batch.SetResult();
            }
            catch (Exception e)
            {
                lock (_gate)
                    _failed ??= e;
                batch.SetException(Failure(e));
            }
        }
    }

    private void FlushWal()
    {
        _flush(_walPath);
        // A log created since the last flush: its directory entry as well, once.
        var created = File.GetCreationTimeUtc(_walPath);
        if (created == _walCreated)
            return;
        if (Path.GetDirectoryName(_walPath) is { } directory)
            _flush(directory);
        _walCreated = created;
    }

    private static void FlushFile(string path)
    {
        if (Directory.Exists(path))
        {
            FlushDirectory(path);
            return;
        }
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        RandomAccess.FlushToDisk(handle);
    }

    /// <summary>fsync of a directory (POSIX: what makes a new file's name durable); .NET opens no directory handles, so libc.</summary>
    private static void FlushDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
            return; // NTFS journals names with the file
        int fd = Open(path, 0 /* O_RDONLY */);
        if (fd < 0)
            throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
