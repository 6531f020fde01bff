using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TokenFactory.Cli.Fleet;

/// <summary>
/// A process <c>factory up</c> started (a replica or the router): its output forwarded line by line under its name, its
/// exit observed, and a graceful stop (SIGTERM, so it drains) that ends in a kill of its whole tree if it overstays.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int SigTerm = 15;
    private readonly Process _process;
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(string name, Uri url, Process process)
    {
        Name = name;
        Url = url;
        _process = process;
    }

    public string Name { get; }
    public Uri Url { get; }
    /// <summary>The URL as people write it: <c>http://127.0.0.1:8081</c>.</summary>
    public string Address => Url.GetLeftPart(UriPartial.Authority);
    public int Id => _process.Id;

    /// <summary>Completes with the exit code when the process ends, whoever ended it.</summary>
    public Task<int> Exited => _exited.Task;

    public static ChildProcess Start(string name, Uri url, ProcessStartInfo start, TextWriter output)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(name, url, process);
        process.OutputDataReceived += (_, e) => child.Forward(output, e.Data);
        process.ErrorDataReceived += (_, e) => child.Forward(output, e.Data);
        process.Exited += (_, _) => child._exited.TrySetResult(process.ExitCode);
        if (!process.Start())
            throw new TokenFactoryException($"could not start {name}: {start.FileName}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Asks it to stop (SIGTERM: a server drains); after <paramref name="grace"/> kills it and its children.</summary>
    /// <returns>Its exit code.</returns>
    public async Task<int> StopAsync(TimeSpan grace)
    {
        if (!_exited.Task.IsCompleted)
        {
            if (OperatingSystem.IsWindows() || kill(_process.Id, SigTerm) != 0)
                Kill();
            try
            {
                await _exited.Task.WaitAsync(grace);
            }
            catch (TimeoutException)
            {
                Kill();
            }
        }
        return await _exited.Task;
    }

    /// <summary>Kills it and its children at once (SIGKILL: no drain), as a crash or the OOM killer would.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // it exited meanwhile
        }
    }

    private void Forward(TextWriter output, string? line)
    {
        if (line is not null)
            output.WriteLine($"[{Name}] {line}");
    }

    public void Dispose()
    {
        if (!_exited.Task.IsCompleted)
            Kill();
        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
