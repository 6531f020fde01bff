using System.Diagnostics;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// One serving process on the ledger: it registers at start-up, heartbeats while it runs and holds the
/// reservations of the requests it admitted. When it stops without settling them (a crash, <c>kill -9</c>),
/// the next start on this host or any live replica sees it is gone and releases them.
/// </summary>
public sealed record FloorInstance(string Id, string Host, int Pid, DateTimeOffset ProcessStarted, DateTimeOffset Started, DateTimeOffset Heartbeat)
{
    /// <summary>
    /// Where its <see cref="Pid"/> means something: the machine's boot and the pid namespace it ran in (null where
    /// unknown: not Linux, or a row written before this was recorded).
    /// </summary>
    public string? PidNamespace { get; init; }

    /// <summary>
    /// This process's <see cref="PidNamespace"/>: <c>/proc/sys/kernel/random/boot_id</c> and the target of
    /// <c>/proc/self/ns/pid</c> (<c>pid:[inode]</c>); null when either cannot be read.
    /// </summary>
    public static string? LocalPidNamespace { get; } = ReadPidNamespace();

    /// <summary>This process, starting now.</summary>
    public static FloorInstance Current(DateTimeOffset now)
    {
        using var self = Process.GetCurrentProcess();
        return new FloorInstance("inst_" + Guid.NewGuid().ToString("N")[..16], Environment.MachineName, self.Id,
            new DateTimeOffset(self.StartTime.ToUniversalTime()), now, now) { PidNamespace = LocalPidNamespace };
    }

    /// <summary>
    /// Whether the process can still be running: it heartbeat within <paramref name="staleAfter"/>, and, when it
    /// ran in this pid namespace, a process with its id and start time still exists (so a restart here needs no wait).
    /// </summary>
    public bool MayBeAlive(DateTimeOffset now, TimeSpan staleAfter)
    {
        if (now - Heartbeat > staleAfter)
            return false;
        // Its pid can be looked up here only if it ran in this very pid namespace. The host name is not enough: containers
        // with host networking (hostNetwork pods) share it but not their pids, and a live replica's pid is "not found"
        // here, so its reservations were released on every sweep and its budgets overspent. Elsewhere, or where either
        // identity is unknown, only its heartbeat can tell.
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal)
            || PidNamespace is null || !string.Equals(PidNamespace, LocalPidNamespace, StringComparison.Ordinal))
            return true;
        try
        {
            using var process = Process.GetProcessById(Pid);
            // A reused pid (a container's pid 1 after a restart) is another process: its start time differs.
            return Math.Abs((process.StartTime.ToUniversalTime() - ProcessStarted.UtcDateTime).TotalSeconds) < 1;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false; // no such process
        }
    }

    private static string? ReadPidNamespace()
    {
        try
        {
            string boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
            string? pids = new FileInfo("/proc/self/ns/pid").LinkTarget;
            return boot.Length > 0 && !string.IsNullOrEmpty(pids) ? $"{boot}/{pids}" : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null; // not Linux, or /proc hidden: the heartbeat decides
        }
    }
}
