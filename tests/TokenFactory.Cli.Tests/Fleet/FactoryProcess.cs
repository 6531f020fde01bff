using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace TokenFactory.Cli.Tests.Fleet;

/// <summary>A real <c>tokenfactory factory up</c> child process, its output read line by line as it comes.</summary>
public sealed partial class FactoryProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Seen)> _waits = [];

    private FactoryProcess(Process process) => _process = process;

    public int Id => _process.Id;
    public string Log { get { lock (_log) return _log.ToString(); } }

    public static FactoryProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tokenfactory.dll"));
        foreach (var a in new[] { "factory", "up" }.Concat(args))
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        var factory = new FactoryProcess(Process.Start(psi)!);
        factory._process.OutputDataReceived += (_, e) => factory.OnLine(e.Data);
        factory._process.ErrorDataReceived += (_, e) => factory.OnLine(e.Data);
        factory._process.BeginOutputReadLine();
        factory._process.BeginErrorReadLine();
        return factory;
    }

    /// <summary>The first line (seen already or to come) matching <paramref name="pattern"/>.</summary>
    public Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        var seen = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_log)
        {
            foreach (var line in _log.ToString().Split('\n'))
            {
                if (regex.Match(line.TrimEnd('\r')) is { Success: true } m)
                {
                    seen.TrySetResult(m);
                    break;
                }
            }
            _waits.Add((regex, seen));
        }
        return WithLog(seen.Task.WaitAsync(timeout), pattern);
    }

    private async Task<Match> WithLog(Task<Match> wait, string pattern)
    {
        try
        {
            return await wait;
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no line matching '{pattern}' from factory up:\n{Log}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        lock (_log)
        {
            _log.AppendLine(line);
            foreach (var (pattern, seen) in _waits)
            {
                if (pattern.Match(line) is { Success: true } m)
                    seen.TrySetResult(m);
            }
        }
    }

    /// <summary>What Ctrl-C's neighbour, <c>kill PID</c> or an orchestrator, sends.</summary>
    public void Terminate() => Assert.Equal(0, kill(_process.Id, 15));

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        _process.WaitForExit(); // the output's last lines
        return _process.ExitCode;
    }

    public static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    [DllImport("libc", EntryPoint = "kill")]
    internal static extern int kill(int pid, int signal);
}
