using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace TokenFactory.Cli.Tests;

/// <summary>A real <c>tokenfactory serve</c> child process on a free port, which a test can kill hard.</summary>
public sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServeProcess(Process process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;
    public string Log { get { lock (_log) return _log.ToString(); } }

    [GeneratedRegex(@"Listening on (http://\S+);")]
    private static partial Regex ListeningLine();

    public static async Task<ServeProcess> StartAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestPaths.RepoRoot,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tokenfactory.dll"));
        psi.ArgumentList.Add("serve");
        foreach (var a in new[] { "--port", "0", "--threads", "1", "--ctx", "512" }.Concat(args))
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        var serve = new ServeProcess(Process.Start(psi)!);
        serve._process.OutputDataReceived += (_, e) => serve.OnLine(e.Data);
        serve._process.ErrorDataReceived += (_, e) => serve.OnLine(e.Data);
        serve._process.BeginOutputReadLine();
        serve._process.BeginErrorReadLine();
        try
        {
            serve.BaseAddress = await serve._listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var http = new HttpClient { BaseAddress = serve.BaseAddress };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((int)(await http.GetAsync("/health")).StatusCode != 200)
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException("the model never loaded");
                await Task.Delay(50);
            }
        }
        catch (Exception e)
        {
            await serve.DisposeAsync();
            throw new InvalidOperationException($"tokenfactory serve did not start: {e.Message}\n{serve.Log}", e);
        }
        return serve;
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        lock (_log)
            _log.AppendLine(line);
        if (ListeningLine().Match(line) is { Success: true } m)
            _listening.TrySetResult(new Uri(m.Groups[1].Value));
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing: what a power cut or an OOM kill does to the process.</summary>
    public void KillHard()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(30_000);
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            KillHard();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
