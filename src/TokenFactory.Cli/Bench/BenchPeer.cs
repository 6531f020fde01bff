using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Bench;

/// <summary>One repetition of the peer engine: tokens/s of its pp and tg runs (null when not run), peak RSS (0 when unknown).</summary>
internal sealed record PeerRun(double? Pp, double? Tg, long PeakRssBytes, string? Version);

/// <summary>
/// The other engine <c>bench model --peer</c> runs on the same file and threads, one repetition per call, alternating
/// with ours: llama.cpp through node-llama-cpp (<c>llama.cpp</c>, the npm build the project installs itself), or a
/// llama.cpp <c>llama-bench</c> executable (<c>llama-bench=PATH</c>, e.g. the native build of
/// <c>tools/llama-ref/build-native.sh</c>).
/// </summary>
internal abstract class BenchPeer
{
    public const string Supported = "llama.cpp (node-llama-cpp, installed by tools/llama-ref/install.sh) or llama-bench=PATH (a llama.cpp llama-bench executable, e.g. from tools/llama-ref/build-native.sh)";

    /// <summary>How llama.cpp is run, for the report: "node-llama-cpp" or "llama-bench".</summary>
    public abstract string Via { get; }

    public abstract PeerRun Run(string model, int threads, int nPrompt, int nGen);

    /// <param name="loadWeights">
    /// The peer reads its weights into memory at load (llama-bench's <c>--load-mode none</c>) instead of mapping the file: with
    /// <c>--one-engine-at-a-time</c> our engine's load evicts the file's pages each repetition, and a mapped peer would
    /// fault its experts in from disk during its timed runs.
    /// </param>
    public static BenchPeer Create(string spec, bool loadWeights = false)
    {
        if (spec.Equals("llama.cpp", StringComparison.OrdinalIgnoreCase))
            return loadWeights
                ? throw new TokenFactoryException("--one-engine-at-a-time needs --peer llama-bench=PATH (its weights read into memory with --load-mode none); the node-llama-cpp peer maps the file.")
                : NodeLlamaCppPeer.Create();
        const string llamaBench = "llama-bench=";
        if (spec.StartsWith(llamaBench, StringComparison.OrdinalIgnoreCase))
        {
            string path = spec[llamaBench.Length..];
            if (path.Length == 0 || !File.Exists(path))
                throw new TokenFactoryException($"--peer {spec}: no llama-bench executable at '{path}' (build one with tools/llama-ref/build-native.sh).");
            return new LlamaBenchPeer(Path.GetFullPath(path), loadWeights);
        }
        throw new TokenFactoryException($"unknown --peer '{spec}'; supported: {Supported}.");
    }

    internal static (int Code, string Stdout, string Stderr) Exec(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new TokenFactoryException($"cannot start {file}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    protected static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>llama.cpp through node-llama-cpp: <c>tools/llama-ref/bench.mjs</c>, one JSON line per call.</summary>
internal sealed class NodeLlamaCppPeer : BenchPeer
{
    private readonly string _script;

    private NodeLlamaCppPeer(string script) => _script = script;

    public override string Via => "node-llama-cpp";

    public static NodeLlamaCppPeer Create()
    {
        string script = FindScript();
        string install = Path.Combine(Path.GetDirectoryName(script)!, "install.sh");
        var (code, _, err) = Exec("bash", [install]);
        if (code != 0)
            throw new TokenFactoryException($"tools/llama-ref/install.sh failed (exit {code}): {err.Trim()}");
        return new NodeLlamaCppPeer(script);
    }

    public override PeerRun Run(string model, int threads, int nPrompt, int nGen)
    {
        var (code, output, err) = Exec("node", [_script, "--model", Path.GetFullPath(model), "--threads", Invariant(threads),
            "-p", Invariant(nPrompt), "-n", Invariant(nGen), "--reps", "1", "--warmup", "1", "--warmup-n", Invariant(Math.Min(nGen, 8))]);
        if (code != 0)
            throw new TokenFactoryException($"llama.cpp bench failed (exit {code}): {err.Trim()}");
        string line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        JsonObject result;
        try
        {
            result = JsonNode.Parse(line)!.AsObject();
        }
        catch (JsonException e)
        {
            throw new TokenFactoryException($"cannot parse llama.cpp bench output '{line}': {e.Message}");
        }
        return new PeerRun(
            result["pp"] is JsonObject pp ? pp["mean"]!.GetValue<double>() : null,
            result["tg"] is JsonObject tg ? tg["mean"]!.GetValue<double>() : null,
            result["peakRssBytes"]?.GetValue<long>() ?? 0,
            result["version"]?.GetValue<string>());
    }

    /// <summary>A script of tools/llama-ref, found from the working directory or the executable upwards.</summary>
    internal static string FindScript(string name = "bench.mjs")
    {
        foreach (string? start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = start == null ? null : new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tools", "llama-ref", name);
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        throw new TokenFactoryException($"--peer llama.cpp needs tools/llama-ref/{name} (run from the repository checkout).");
    }
}

/// <summary>
/// A llama.cpp <c>llama-bench</c> executable, run once per repetition with <c>-r 1 -o json</c> (its own warm-up run
/// first; <c>--load-mode none</c> when it must load its weights rather than map them): the pp test's and the tg test's <c>avg_ts</c>. It does not report its memory, so the peak RSS stays unknown.
/// </summary>
internal sealed class LlamaBenchPeer(string executable, bool loadWeights) : BenchPeer
{
    public override string Via => "llama-bench";

    public override PeerRun Run(string model, int threads, int nPrompt, int nGen)
    {
        string[] args = ["-m", Path.GetFullPath(model), "-t", Invariant(threads), "-p", Invariant(nPrompt), "-n", Invariant(nGen), "-r", "1", "-o", "json"];
        var (code, output, err) = Exec(executable, loadWeights ? [.. args, "--load-mode", "none"] : args);
        if (code != 0)
            throw new TokenFactoryException($"llama-bench failed (exit {code}): {Tail(err)}");
        return Parse(output, nPrompt, nGen);
    }

    /// <summary>The pp (n_prompt = <paramref name="nPrompt"/>, n_gen 0) and tg (n_prompt 0, n_gen = <paramref name="nGen"/>) results of llama-bench's JSON array.</summary>
    internal static PeerRun Parse(string output, int nPrompt, int nGen)
    {
        JsonArray tests;
        try
        {
            tests = JsonNode.Parse(output)?.AsArray() ?? throw new TokenFactoryException("llama-bench printed no results.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new TokenFactoryException($"cannot parse llama-bench output as a JSON array: {e.Message}");
        }
        double? pp = null, tg = null;
        string? version = null;
        foreach (var test in tests.OfType<JsonObject>())
        {
            int p = test["n_prompt"]?.GetValue<int>() ?? -1, n = test["n_gen"]?.GetValue<int>() ?? -1;
            double? rate = test["avg_ts"]?.GetValue<double>();
            version ??= test["build_commit"]?.GetValue<string>();
            if (p == nPrompt && n == 0 && nPrompt > 0)
                pp = rate;
            else if (p == 0 && n == nGen && nGen > 0)
                tg = rate;
        }
        if ((nPrompt > 0 && pp == null) || (nGen > 0 && tg == null))
            throw new TokenFactoryException($"llama-bench output lacks the pp{nPrompt} or tg{nGen} test.");
        return new PeerRun(pp, tg, 0, version);
    }

    private static string Tail(string text)
    {
        string trimmed = text.Trim();
        return trimmed.Length <= 2000 ? trimmed : trimmed[^2000..];
    }
}
