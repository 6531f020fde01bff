using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Bench;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench model</c>: prompt-processing and generation
/// tokens/s like llama-bench, of one sequence through the batching engine's step (the path <c>serve</c> runs), mean ± sample standard deviation over repetitions, optionally against llama.cpp
/// (node-llama-cpp or a llama-bench executable, see <see cref="BenchPeer"/>) on the same file and threads, alternating per
/// repetition; plus the memory-bandwidth roofline.
/// </summary>
internal static class BenchModelCommand
{
    public static Command Create(string name = "model")
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores)", DefaultValueFactory = _ => ComputePool.DefaultThreadCount };
        var prompt = new Option<int>("-p", "--n-prompt") { Description = "Prompt tokens for pp (0 skips pp)", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("-n", "--n-gen") { Description = "Generated tokens for tg (0 skips tg)", DefaultValueFactory = _ => 128 };
        var reps = new Option<int>("--reps", "-r") { Description = "Timed repetitions", DefaultValueFactory = _ => 3 };
        var peer = new Option<string?>("--peer") { Description = "Also run llama.cpp on the same file and threads, alternating: " + BenchPeer.Supported };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to this file" }.WritableFile();
        var bwOver = new Option<string>("--bandwidth-over")
        {
            Description = "What the bandwidth kernel reads around each generation run: 'weights' (the matrices a token reads, in place) or 'buffer' (a buffer of its own)",
            DefaultValueFactory = _ => "weights",
        };
        bwOver.AcceptOnlyFromAmong("weights", "buffer");
        var batchTokens = new Option<int>("--batch-tokens", "-b")
        {
            Description = $"Prompt tokens per engine step (default {SingleSequence.PromptChunk}, the chunk earlier figures were measured with)",
            DefaultValueFactory = _ => SingleSequence.PromptChunk,
        };
        var oneAtATime = new Option<bool>("--one-engine-at-a-time")
        {
            Description = "With --peer llama-bench=PATH: load our engine afresh for each repetition and release it before llama.cpp's (which loads its weights with --load-mode none), so a model that fits in memory once still alternates (loading is not timed)",
        };
        var bwMiB = new Option<int>("--bandwidth-mib") { Description = "Buffer size with --bandwidth-over buffer; 0 skips the bandwidth kernel either way", DefaultValueFactory = _ => 256 };
        var cmd = new Command(name, "Measure prompt processing (pp) and generation (tg) tokens/s, like llama-bench")
        {
            model, threads, prompt, gen, reps, peer, oneAtATime, json, bwOver, bwMiB, batchTokens,
        };
        cmd.SetAction(r => CommandErrors.Run(() => Run(
            r.GetValue(model)!, r.GetValue(threads), r.GetValue(prompt), r.GetValue(gen), r.GetValue(reps),
            r.GetValue(peer), r.GetValue(json), r.GetValue(bwOver) == "buffer", r.GetValue(bwMiB), r.GetValue(batchTokens), r.GetValue(oneAtATime))));
        return cmd;
    }

    private static int Run(string path, int threads, int nPrompt, int nGen, int reps, string? peer, string? jsonPath, bool bwBuffer, int bwMiB, int batchTokens, bool oneAtATime)
    {
        if (nPrompt < 0 || nGen < 0 || (nPrompt == 0 && nGen == 0))
            throw new TokenFactoryException("nothing to measure: give -p and/or -n > 0.");
        if (reps < 1)
            throw new TokenFactoryException("--reps must be at least 1.");
        if (threads < 1)
            threads = ComputePool.DefaultThreadCount;
        if (batchTokens < 1)
            throw new TokenFactoryException("--batch-tokens must be at least 1.");
        if (oneAtATime && peer == null)
            throw new TokenFactoryException("--one-engine-at-a-time alternates with a peer: give --peer too.");
        BenchPeer? peerEngine = peer != null ? BenchPeer.Create(peer, loadWeights: oneAtATime) : null;

        // With oneAtATime each repetition loads its own engine and releases it before the peer runs.
        BenchedModel? engine = BenchedModel.Load(path, threads, nPrompt, nGen, batchTokens);
        try
        {
            return Measure(path, threads, nPrompt, nGen, reps, peerEngine, jsonPath, bwBuffer, bwMiB, batchTokens, oneAtATime, ref engine);
        }
        finally
        {
            engine?.Dispose();
        }
    }

    /// <summary>The repetitions and the report; <paramref name="engine"/> is the one loaded now (null between a release and the next load).</summary>
    private static int Measure(string path, int threads, int nPrompt, int nGen, int reps, BenchPeer? peerEngine, string? jsonPath, bool bwBuffer, int bwMiB,
        int batchTokens, bool oneAtATime, ref BenchedModel? engine)
    {
        var first = engine!;
        var m = first.Model;
        var c = m.Config;
        int vocab = m.VocabSize;
        string fileName = Path.GetFileName(path);
        long fileBytes = new FileInfo(path).Length;
        string types = string.Join("/", m.File.Tensors.Where(t => t.Dimensions.Length == 2).GroupBy(t => t.Type)
            .OrderByDescending(g => g.Sum(t => (long)t.RowBytes * t.RowCount)).Select(g => g.Key.ToString()));
        Console.WriteLine($"model: {fileName} ({fileBytes / 1e9:F2} GB, {c.Architecture}, {types}, {c.BlockCount} layers, embd {c.EmbeddingLength}, vocab {vocab}), threads {threads}, {batchTokens} prompt tokens per step");
        Console.WriteLine($"kernels: {KernelChoices.Summary()}");
        if (oneAtATime)
            Console.WriteLine("one engine at a time: ours is loaded afresh for each repetition and released before llama.cpp's, which reads its weights into memory (--load-mode none; loading is not timed)");
        double bytesPerToken = first.BytesPerToken;
        if (nGen > 0)
            Console.WriteLine($"bytes read per generated token: {bytesPerToken / 1e6:F0} MB");
        first.WarmUp(nPrompt, nGen);

        // The roofline is paired with each generation run, because on a shared machine the neighbours' memory traffic
        // moves both by tens of percent within a minute (readings taken once for the whole benchmark were 33 to 60
        // GB/s on one VM). Interleaved (the reported figure): the run is cut into stretches of InterleaveTokens tokens,
        // the bandwidth kernel reads its buffer once before each stretch and once after the last, and the run is
        // compared with those passes taken together (their bytes over their time), so both are averages over the same
        // minutes. Bracketed (what earlier sessions reported, kept in the JSON): the best of 3 passes just before and
        // just after the run, whose best-of-3 picks the quiet moments that the run's average does not get. The probe's
        // buffer is resident during the run; the peak-RSS figure leaves it out.
        var bwReps = new List<double>();
        var bwBracketReps = new List<double>();
        var bwVariants = new List<MemoryBandwidth.ReadVariant>();
        long streamedBytes = 0;
        long peakBeforeResets = 0;
        double GenerationWithRoofline(BenchedModel loaded)
        {
            var sequence = loaded.Sequence;
            if (bwMiB <= 0)
                return sequence.Generate(loaded.Bos, nGen);
            peakBeforeResets = Math.Max(peakBeforeResets, PeakRssBytes());
            long rssBefore = ResidentBytes();
            double seconds;
            using (var probe = bwBuffer ? new MemoryBandwidth.Probe(loaded.Pool, (long)bwMiB << 20) : new MemoryBandwidth.Probe(loaded.Pool, loaded.Streamed.Select(w => w.Streamed).ToList()))
            {
                long probeResident = Math.Max(0, ResidentBytes() - rssBefore);
                bwVariants.Add(probe.Variant);
                streamedBytes = probe.Bytes;
                ResetPeakRss();
                double before = probe.Best(3);
                (seconds, double passBytes, double passSeconds) = sequence.GenerateInterleaved(loaded.Bos, nGen, probe, InterleaveTokens);
                double after = probe.Best(3);
                peakBeforeResets = Math.Max(peakBeforeResets, PeakRssBytes() - probeResident);
                bwReps.Add(passBytes / passSeconds);
                bwBracketReps.Add((before + after) / 2);
            }
            ResetPeakRss();
            return seconds;
        }

        var ppOurs = new List<double>();
        var tgOurs = new List<double>();
        var ppPeer = new List<double>();
        var tgPeer = new List<double>();
        long peerRss = 0;
        string? peerVersion = null;
        for (int rep = 0; rep < reps; rep++)
        {
            if (engine == null)
            {
                engine = BenchedModel.Load(path, threads, nPrompt, nGen, batchTokens);
                engine.WarmUp(nPrompt, nGen);
            }
            if (nPrompt > 0)
                ppOurs.Add(nPrompt / engine.Sequence.Prompt(engine.PromptTokens));
            if (nGen > 0)
                tgOurs.Add(nGen / GenerationWithRoofline(engine));
            Console.Error.WriteLine($"rep {rep + 1}/{reps} tokenfactory: pp {Last(ppOurs)} tg {Last(tgOurs)}" +
                (bwReps.Count > 0 ? $" (bandwidth during it {bwReps[^1] / 1e9:F1} GB/s, best-of-3 around it {bwBracketReps[^1] / 1e9:F1})" : ""));
            if (peerEngine != null)
            {
                if (oneAtATime)
                {
                    // The peer maps the same file: our repacked weights go back to the system first.
                    engine.Dispose();
                    engine = null;
                    GC.Collect();
                }
                var result = peerEngine.Run(path, threads, nPrompt, nGen);
                if (result.Pp is { } pp)
                    ppPeer.Add(pp);
                if (result.Tg is { } tg)
                    tgPeer.Add(tg);
                peerRss = Math.Max(peerRss, result.PeakRssBytes);
                peerVersion = result.Version;
                Console.Error.WriteLine($"rep {rep + 1}/{reps} llama.cpp:    pp {Last(ppPeer)} tg {Last(tgPeer)}");
            }
        }
        long ourRss = Math.Max(PeakRssBytes(), peakBeforeResets);
        double bandwidth = bwReps.Count > 0 ? Mean(bwReps) : 0;
        string bwSource = bwBuffer ? $"{bwMiB} MiB buffer" : $"reading the model's {streamedBytes / 1e6:F0} MB of matrices in place";
        double roofline = bandwidth / bytesPerToken;
        if (bandwidth > 0)
        {
            Console.WriteLine($"memory read bandwidth during our generation runs (one pass every {InterleaveTokens} tokens): {string.Join(", ", bwReps.Select(b => $"{b / 1e9:F1}"))} GB/s " +
                $"({threads} threads, {bwSource}), mean roofline {roofline:F1} tokens/s (tg % roofline pairs each run with its own passes)");
            Console.WriteLine($"best-of-3 readings just before and after each run (earlier sessions' pairing): {string.Join(", ", bwBracketReps.Select(b => $"{b / 1e9:F1}"))} GB/s, " +
                $"tg % of that roofline {RooflinePercent(tgOurs, bwBracketReps):F1} %");
            Console.WriteLine($"streaming read loop (fastest of {string.Join(", ", MemoryBandwidth.ReadVariants)} when each run's probe was made): " +
                string.Join(", ", bwVariants));
        }

        // Report.
        // Percent of the roofline, each generation run against the bandwidth measured during our run of that repetition.
        double? RooflinePercent(List<double> tg, List<double> bw) => bw.Count >= tg.Count && tg.Count > 0
            ? 100 * tg.Select((v, i) => v * bytesPerToken / bw[i]).Average()
            : null;
        string ppHead = $"pp{nPrompt} tok/s", tgHead = $"tg{nGen} tok/s";
        Console.WriteLine();
        Console.WriteLine($"{"engine",-14} {ppHead,18} {tgHead,18} {"tg % roofline",14} {"peak RSS",10}");
        void Row(string engine, List<double> pp, List<double> tg, long rss) =>
            Console.WriteLine($"{engine,-14} {Stat(pp),18} {Stat(tg),18} {(RooflinePercent(tg, bwReps) is { } pct ? $"{pct:F1} %" : "-"),14} {(rss > 0 ? $"{rss / 1e9:F2} GB" : "-"),10}");
        Row("tokenfactory", ppOurs, tgOurs, ourRss);
        if (peerEngine != null)
        {
            Row("llama.cpp", ppPeer, tgPeer, peerRss);
            Console.WriteLine($"{"ratio of means",-14} {Ratio(ppOurs, ppPeer),18} {Ratio(tgOurs, tgPeer),18}");
            Console.WriteLine($"{"paired median",-14} {PairedRatioText(ppOurs, ppPeer),18} {PairedRatioText(tgOurs, tgPeer),18}");
            Console.WriteLine($"(llama.cpp {peerVersion} through {peerEngine.Via}, same file and threads, alternating per repetition)");
        }

        if (jsonPath != null)
        {
            var o = new JsonObject
            {
                ["model"] = fileName,
                ["modelBytes"] = fileBytes,
                ["architecture"] = c.Architecture,
                ["weightTypes"] = types,
                ["threads"] = threads,
                ["batchTokens"] = batchTokens,
                ["kernels"] = new JsonObject(KernelChoices.Effective().Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))),
                ["reps"] = reps,
                ["bandwidthBytesPerSecond"] = Math.Round(bandwidth),
                ["bandwidthRuns"] = new JsonArray(bwReps.Select(b => (JsonNode?)Math.Round(b)).ToArray()),
                ["bandwidthInterleaveTokens"] = InterleaveTokens,
                ["bandwidthBracketRuns"] = new JsonArray(bwBracketReps.Select(b => (JsonNode?)Math.Round(b)).ToArray()),
                ["bandwidthOver"] = bwBuffer ? "buffer" : "weights",
                ["bandwidthProbeBytes"] = streamedBytes,
                ["bandwidthReadLoops"] = new JsonArray(bwVariants.Select(v => (JsonNode?)v.ToString()).ToArray()),
                ["bytesPerGeneratedToken"] = Math.Round(bytesPerToken),
                ["tgRoofline"] = Math.Round(roofline, 2),
                ["tokenfactory"] = EngineJson(nPrompt, nGen, ppOurs, tgOurs, ourRss, RooflinePercent(tgOurs, bwReps), RooflinePercent(tgOurs, bwBracketReps)),
            };
            if (peerEngine != null)
            {
                var pj = EngineJson(nPrompt, nGen, ppPeer, tgPeer, peerRss, RooflinePercent(tgPeer, bwReps), RooflinePercent(tgPeer, bwBracketReps));
                pj["version"] = peerVersion;
                pj["via"] = peerEngine.Via;
                o["llama.cpp"] = pj;
                o["ratio"] = new JsonObject
                {
                    ["pp"] = ppPeer.Count > 0 ? Math.Round(Mean(ppOurs) / Mean(ppPeer), 3) : null,
                    ["tg"] = tgPeer.Count > 0 ? Math.Round(Mean(tgOurs) / Mean(tgPeer), 3) : null,
                    ["ppPairedMedian"] = Distribution.PairedMedian(ppOurs, ppPeer) is { } ppm ? Math.Round(ppm, 3) : null,
                    ["tgPairedMedian"] = Distribution.PairedMedian(tgOurs, tgPeer) is { } tgm ? Math.Round(tgm, 3) : null,
                };
            }
            string? dir = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
            if (dir != null)
                Directory.CreateDirectory(dir);
            File.WriteAllText(jsonPath, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
        return 0;
    }

    /// <summary>Tokens per stretch between two bandwidth passes of the interleaved roofline (a pass takes ~10 ms, a stretch ~0.5 s).</summary>
    internal const int InterleaveTokens = 16;

    private static JsonObject EngineJson(int nPrompt, int nGen, List<double> pp, List<double> tg, long rss, double? rooflinePercent, double? bracketedPercent) => new()
    {
        ["pp"] = pp.Count > 0 ? new JsonObject { ["n"] = nPrompt, ["mean"] = Math.Round(Mean(pp), 2), ["std"] = Math.Round(Std(pp), 2), ["runs"] = new JsonArray(pp.Select(v => (JsonNode?)Math.Round(v, 2)).ToArray()) } : null,
        ["tg"] = tg.Count > 0 ? new JsonObject { ["n"] = nGen, ["mean"] = Math.Round(Mean(tg), 2), ["std"] = Math.Round(Std(tg), 2), ["runs"] = new JsonArray(tg.Select(v => (JsonNode?)Math.Round(v, 2)).ToArray()) } : null,
        ["tgPercentOfRoofline"] = rooflinePercent is { } pct ? Math.Round(pct, 1) : null,
        ["tgPercentOfRooflineBracketed"] = bracketedPercent is { } bpct ? Math.Round(bpct, 1) : null,
        ["peakRssBytes"] = rss > 0 ? rss : null,
    };

    private static double Mean(List<double> v) => v.Count == 0 ? double.NaN : v.Average();

    private static double Std(List<double> v)
    {
        if (v.Count < 2)
            return 0;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1));
    }

    private static string Stat(List<double> v) => v.Count == 0 ? "-" : $"{Mean(v):F2} ± {Std(v):F2}";

    private static string PairedRatioText(List<double> ours, List<double> peer) => Distribution.PairedMedian(ours, peer) is { } m ? $"{m:F2}x" : "-";

    private static string Ratio(List<double> ours, List<double> peer) => ours.Count == 0 || peer.Count == 0 ? "-" : $"{Mean(ours) / Mean(peer):F2}x";

    private static string Last(List<double> v) => v.Count == 0 ? "-" : v[^1].ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>Restarts VmHWM from the current resident size (Linux: writing 5 to clear_refs); no-op elsewhere.</summary>
    internal static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Peak resident set size of this process (VmHWM), 0 where /proc is unavailable.</summary>
    internal static long PeakRssBytes() => StatusBytes("VmHWM:");

    /// <summary>Resident set size of this process now (VmRSS), 0 where /proc is unavailable.</summary>
    internal static long ResidentBytes() => StatusBytes("VmRSS:");

    private static long StatusBytes(string field)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
