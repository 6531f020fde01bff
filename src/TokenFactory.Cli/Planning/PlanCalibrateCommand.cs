using System.CommandLine;
using TokenFactory.Cli.Commands;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// <c>plan calibrate</c>: measures this machine's memory bandwidth, runs the engine on a set of workloads (concurrencies
/// and prompt lengths), fits the planner's compute rate, bandwidth efficiency and step overhead to them, and saves the
/// profile <c>plan --hardware this-machine</c> uses.
/// </summary>
internal static class PlanCalibrateCommand
{
    /// <summary>The calibration set: decode-bound and prefill-bound points, alone and batched.</summary>
    internal static readonly Workload[] Set =
    [
        new() { InputTokens = 32, OutputTokens = 32, Concurrency = 1, Requests = 4 },
        new() { InputTokens = 32, OutputTokens = 32, Concurrency = 8, Requests = 16 },
        new() { InputTokens = 256, OutputTokens = 8, Concurrency = 1, Requests = 4 },
        new() { InputTokens = 128, OutputTokens = 24, Concurrency = 4, Requests = 12 },
        // Long contexts: each decode reads a large cache, which tells bandwidth apart from the fixed cost of a step.
        new() { InputTokens = 1024, OutputTokens = 16, Concurrency = 4, Requests = 8 },
        // Many sequences decoding over long contexts: attention's cache reads (per decoding token) against its FLOPs (per query
        // head), which prompts alone cannot tell apart on a model with few KV heads.
        new() { InputTokens = 512, OutputTokens = 48, Concurrency = 8, Requests = 8 },
    ];

    /// <summary>The profile's file can be written: found out before minutes of measuring, not after them.</summary>
    private static void CheckWritable(string path)
    {
        if (Directory.Exists(path))
            throw new TokenFactoryException($"--out {path} is a directory; give the profile's file name.");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
            Directory.CreateDirectory(folder); // as Save would; fails here with a clear error when it cannot
        bool existed = File.Exists(path);
        using (new FileStream(path, FileMode.Append, FileAccess.Write)) { } // opens it for writing, writes nothing
        if (!existed)
            File.Delete(path); // no empty profile left behind should the measuring fail
    }

    public static Command Create()
    {
        var modelFile = new Option<string>("--model-file", "-f") { Description = "GGUF model to measure with", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => ComputePool.DefaultThreadCount }.AtLeast(1);
        var output = new Option<string?>("--out") { Description = $"Profile file (default {CpuProfile.DefaultPath})" };
        var watts = new Option<double>("--watts") { Description = "This machine's power at load, W (for energy and MW figures)", DefaultValueFactory = _ => 60 };
        var usd = new Option<double>("--usd-per-hour") { Description = "This machine's price per hour", DefaultValueFactory = _ => 0.10 };
        var rounds = RoundsOption();
        var cmd = new Command("calibrate", "Measure this machine with the engine and store the planner's CPU profile") { modelFile, threads, output, watts, usd, rounds };
        cmd.SetAction((r, cancellation) => CommandErrors.RunAsync(async () =>
        {
            if (!File.Exists(r.GetValue(modelFile)))
                throw new TokenFactoryException($"{r.GetValue(modelFile)}: no such model file.");
            if (r.GetValue(watts) is not (> 0 and < double.PositiveInfinity) || r.GetValue(usd) is not (>= 0 and < double.PositiveInfinity))
                throw new TokenFactoryException("--watts must be positive and --usd-per-hour 0 or more.");
            CheckWritable(r.GetValue(output) ?? CpuProfile.DefaultPath);
            var profile = await CalibrateAsync(r.GetValue(modelFile)!, r.GetValue(threads), Set, r.GetValue(rounds), r.GetValue(watts), r.GetValue(usd), Console.Error);
            profile.Save(r.GetValue(output));
            Console.WriteLine($"saved {r.GetValue(output) ?? CpuProfile.DefaultPath}: {profile.MemoryBandwidthTbps * 1000:F1} GB/s and products at {profile.ProductRates} GFLOPS by rows measured; " +
                $"fitted the rest of a token's work at {profile.ElementsPerSecond / 1e9:F2} G elements/s, attention {profile.AttentionTflops * 1000:F0} GFLOPS, " +
                $"cache reads {profile.CacheReadElementsPerSecond / 1e9:F1} G elements/s, " +
                $"bandwidth efficiency {profile.MemoryEfficiency:F2}, {profile.LayerOverheadMs * 1000:F0} µs per step and block, {profile.UnoverlappedShare:P0} of compute and reads unoverlapped; mean error on the runs {profile.FitError:P1}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>How many times each workload is measured (the median is kept).</summary>
    internal static Option<int> RoundsOption() =>
        new Option<int>("--rounds") { Description = "Measure each workload this many times, interleaved, and keep the medians (a shared machine's speed drifts)", DefaultValueFactory = _ => 3 }.AtLeast(1);

    internal static async Task<CpuProfile> CalibrateAsync(string modelFile, int threads, IReadOnlyList<Workload> set, int rounds, double watts, double usdPerHour, TextWriter log)
    {
        using var model = TransformerModel.Load(modelFile);
        var options = new EngineOptions { Threads = threads, ContextLength = 2048, MaxBatchTokens = 256, MaxRunningSequences = 32, PrefixCaching = false, MaxWaitingRequests = 100_000 };
        using var engine = new BatchingEngine(model, options);
        using var pool = new ComputePool(threads);
        var probe = EngineRuns.WeightProbe(pool, model);
        await EngineRuns.MeasureAsync(engine, new Workload { InputTokens = 16, OutputTokens = 4, Concurrency = 1, Requests = 2 }, 256, 32); // warm-up
        if (model.Config.Moe != null)
            log.WriteLine($"warning: {Path.GetFileName(modelFile)} is a mixture of experts: the product probe multiplies its first experts as one dense set, and the calibration has been checked against measurement on dense models only; calibrate on a dense model.");
        var products = EngineRuns.ProductRates(pool, model);
        var runs = await EngineRuns.MeasureRoundsAsync(engine, set, rounds, options.MaxBatchTokens, options.MaxRunningSequences, log, probe, EngineRuns.ProductProbe(pool, model));
        // The profile's bandwidth: the median of the workloads' (each workload is fitted at the median of the probes around its rounds).
        double bandwidth = EngineRuns.Median(runs.Select(r => r.BandwidthTbps));
        // Its products' rates likewise at the level of the median 64-row reading around the runs: the sweep keeps the best of nine
        // passes a point, a reading around a run the best of five, so unscaled the runs would be fitted at rates a little below
        // the profile's and `plan` would predict a little fast.
        products = products.Scaled(EngineRuns.Median(runs.Select(r => r.ProductTflops)) / products.Tflops(MeasuredRun.ProductProbeRows));
        var shape = ModelProfile.FromGguf(modelFile);
        var precision = GgufPrecision.Of(modelFile);
        double memoryGb = MemoryGb();
        var fit = Calibrator.Fit(shape, precision, bandwidth, memoryGb, runs, products);
        return new CpuProfile
        {
            Name = Environment.MachineName,
            Threads = threads,
            MemoryGb = memoryGb,
            MemoryBandwidthTbps = bandwidth,
            EffectiveTflops = fit.Tflops,
            ProductRates = fit.Products,
            AttentionTflops = fit.AttentionTflops,
            CacheReadElementsPerSecond = fit.CacheReadElementsPerSecond,
            ElementsPerSecond = fit.ElementsPerSecond ?? 0,
            MemoryEfficiency = fit.MemoryEfficiency,
            StepOverheadMs = 0,
            LayerOverheadMs = fit.LayerOverheadMs,
            UnoverlappedShare = fit.UnoverlappedShare,
            AllInWatts = watts,
            UsdPerHour = usdPerHour,
            CalibratedOn = Path.GetFileName(modelFile),
            FitError = fit.Error,
            Measured = DateTimeOffset.UtcNow,
        };
    }

    private static double MemoryGb()
    {
        foreach (var line in File.Exists("/proc/meminfo") ? File.ReadLines("/proc/meminfo") : [])
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal) && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out long kb))
                return kb * 1024 / 1e9;
        }
        return 16;
    }
}
