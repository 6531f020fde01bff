using System.Diagnostics;

namespace TokenFactory.Cli.Tests;

/// <summary>Runs the real <c>tokenfactory</c> executable (built next to the tests) as a child process.</summary>
public static class CliRunner
{
    public static string Shared => TestPaths.Shared;

    public static string Stories260K => TestPaths.Stories260K;

    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => RunWith(new Dictionary<string, string?>(), args);

    /// <summary>As <see cref="Run"/>, with <paramref name="environment"/> set in the child (null removes a variable).</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunWith(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestPaths.RepoRoot,
        };
        foreach (var (k, v) in environment)
            psi.Environment[k] = v;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tokenfactory.dll"));
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("tokenfactory " + string.Join(' ', args) + " did not finish in 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
