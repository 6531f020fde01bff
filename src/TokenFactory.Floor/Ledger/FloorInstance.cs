using System.Diagnostics;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// One serving process on the ledger: it registers at start-up, heartbeats while it runs and holds the
/// reservations of the requests it admitted. When it stops without settling them (a crash, <c>kill -9</c>),
/// the next start on this host or any live replica sees it is gone and releases them.
/// </summary>
public sealed record FloorInstance(string Id, string Host, int Pid, DateTimeOffset ProcessStarted, DateTimeOffset Started, DateTimeOffset Heartbeat)
{
    /// <summary>This process, starting now.</summary>
    public static FloorInstance Current(DateTimeOffset now)
    {
        using var self = Process.GetCurrentProcess();
        return new FloorInstance("inst_" + Guid.NewGuid().ToString("N")[..16], Environment.MachineName, self.Id,
            new DateTimeOffset(self.StartTime.ToUniversalTime()), now, now);
    }

    /// <summary>
    /// Whether the process can still be running: it heartbeat within <paramref name="staleAfter"/>, and, when it
    /// ran on this host, a process with its id and start time still exists (so a restart here needs no wait).
    /// </summary>
    public bool MayBeAlive(DateTimeOffset now, TimeSpan staleAfter)
    {
        if (now - Heartbeat > staleAfter)
            return false;
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal))
            return true; // another machine: only its heartbeat can tell
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
}
