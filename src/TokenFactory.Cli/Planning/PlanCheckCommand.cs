using System.CommandLine;
using TokenFactory.Cli.Commands;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// <c>plan check</c>: how well the planner predicts this machine. Calibrates on one set of workloads, then predicts
/// others — other lengths and concurrencies, Poisson arrivals, and (with <c>--other-model-file</c>) another model shape —
/// and measures each with the engine in the same run; prints predicted against measured output tokens/s and TTFT.
/// </summary>
internal static class PlanCheckCommand
{
    /// <summary>Workloads not in the calibration set.</summary>
    internal static readonly Workload[] Held =
    [
        new() { InputTokens = 64, OutputTokens = 48, Concurrency = 2, Requests = 10 },
        new() { InputTokens = 16, OutputTokens = 64, Concurrency = 16, Requests = 32 },
        new() { InputTokens = 512, OutputTokens = 16, Concurrency = 2, Requests = 8 },
    ];

    /// <param name="name"><c>check</c> under <c>plan</c>; <c>planner</c> under <c>bench</c>.</param>
    public static Command Create(string name = "check")
    {
        var modelFile = new Option<string>("--model-file", "-f") { Description = "GGUF model calibrated on", Required = true };
        var other = new Option<string?>("--other-model-file") { Description = "A second GGUF (another shape), predicted from the first one's calibration" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => ComputePool.DefaultThreadCount }.AtLeast(1);
        var rate = new Option<double>("--poisson-fraction") { Description = "Poisson run at this fraction of the measured capacity", DefaultValueFactory = _ => 0.6 };
        var rounds = PlanCalibrateCommand.RoundsOption();
        var cmd = new Command(name, "Calibrate on some workloads, predict others (and another model), measure them, print the errors") { modelFile, other, threads, rate, rounds };
        cmd.SetAction((r, cancellation) => CommandErrors.RunAsync(async () =>
        {
            int roundCount = r.GetValue(rounds);
            // Checked before the calibration's minutes, not after them.
            foreach (var file in new[] { r.GetValue(modelFile)!, r.GetValue(other) }.OfType<string>())
            {
                if (!File.Exists(file))
                    throw new TokenFactoryException($"{file}: no such model file.");
            }
            if (r.GetValue(rate) is not (> 0 and <= 1))
                throw new TokenFactoryException($"--poisson-fraction must be above 0 and at most 1 (of the measured capacity), got {r.GetValue(rate)}.");
            var profile = await PlanCalibrateCommand.CalibrateAsync(r.GetValue(modelFile)!, r.GetValue(threads), PlanCalibrateCommand.Set, roundCount, 60, 0.1, Console.Error);
            var calibrated = profile.ToHardware();
            Console.WriteLine($"calibrated on {profile.CalibratedOn}: products {profile.ProductRates} GFLOPS by rows (probed), the rest {profile.ElementsPerSecond / 1e9:F2} G elements/s, attention {profile.AttentionTflops * 1000:F0} GFLOPS, cache reads {profile.CacheReadElementsPerSecond / 1e9:F1} G elements/s, bandwidth {profile.MemoryBandwidthTbps * 1000:F1} GB/s × {profile.MemoryEfficiency:F2}, " +
                $"{profile.LayerOverheadMs * 1000:F0} µs per step and block, {profile.UnoverlappedShare:P0} unoverlapped (fit error {profile.FitError:P1})");
            Console.WriteLine($"| model | workload | GB/s probed | GFLOPS at 64 rows | tokens/s predicted | measured | error | TTFT p50 predicted | measured | error | TTFT p99 predicted | measured | error |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            var errors = new List<double>();
            var fixedErrors = new List<double>(); // the same, predicted at the profile's bandwidth instead of each run's
            var unscaledErrors = new List<double>(); // the same, with the products' rates as probed once, not scaled to each run's
            var notes = new List<string>();
            using var pool = new ComputePool(r.GetValue(threads));
            foreach (string file in new[] { r.GetValue(modelFile)!, r.GetValue(other) }.OfType<string>())
            {
                using var model = TransformerModel.Load(file);
                var options = new EngineOptions { Threads = r.GetValue(threads), ContextLength = 2048, MaxBatchTokens = 256, MaxRunningSequences = 32, PrefixCaching = false, MaxWaitingRequests = 100_000 };
                using var engine = new BatchingEngine(model, options);
                var probe = EngineRuns.WeightProbe(pool, model);
                await EngineRuns.MeasureAsync(engine, new Workload { InputTokens = 16, OutputTokens = 4, Concurrency = 1, Requests = 2 }, 256, 32);
                // Another model's products are probed as the calibrated one's were; the rest of its work is predicted at the fitted rate.
                var hardware = calibrated;
                if (file != r.GetValue(modelFile))
                {
                    var products = EngineRuns.ProductRates(pool, model);
                    hardware = calibrated with { PeakTflops = HardwareProfile.OneRate(products.PeakTflops), ProductRates = products };
                    notes.Add($"{Path.GetFileName(file)}: products probed at {products} GFLOPS by rows");
                }
                var shape = ModelProfile.FromGguf(file);
                var precision = GgufPrecision.Of(file);
                var workloads = new List<Workload>(Held);
                // Poisson at a fraction of the capacity the planner predicts for the 64/48 closed loop at 8 in flight.
                var capacity = Calibrator.Predict(hardware, shape, precision, [new MeasuredRun(Held[0] with { Concurrency = 8, Requests = 16 }, 256, 32, 1, 1)])[0];
                // The same arrival trace for the engine and the simulation: with a few dozen requests, a p99 is the slowest one, and
                // two draws of the process differ more than the model does.
                double perSecond = capacity.OutputTokensPerSecond * r.GetValue(rate) / 48;
                workloads.Add(new Workload { InputTokens = 64, OutputTokens = 48, ArrivalRate = perSecond, Arrivals = Workload.PoissonArrivals(perSecond, 40, 3), Seed = 3 });
                foreach (var measured in await EngineRuns.MeasureRoundsAsync(engine, workloads, roundCount, options.MaxBatchTokens, options.MaxRunningSequences, Console.Error, probe, EngineRuns.ProductProbe(pool, model)))
                {
                    // Each run predicted three ways: at the rates probed around it, at the profile's bandwidth, with the products' rates as probed once.
                    SimulationResult Predict(MeasuredRun run) => Calibrator.Predict(hardware, shape, precision, [run])[0];
                    double[] Errors(SimulationResult p) =>
                        [p.OutputTokensPerSecond / measured.OutputTokensPerSecond - 1, p.TtftP50 / measured.TtftP50Seconds - 1, p.TtftP99 / measured.TtftP99Seconds - 1];
                    fixedErrors.AddRange(Errors(Predict(measured with { BandwidthTbps = 0 })).Select(Math.Abs));
                    unscaledErrors.AddRange(Errors(Predict(measured with { ProductTflops = 0 })).Select(Math.Abs));
                    var predicted = Predict(measured);
                    double[] e = Errors(predicted);
                    errors.AddRange(e.Select(Math.Abs));
                    Console.WriteLine($"| {Path.GetFileName(file)} | {measured.Label} | {measured.BandwidthTbps * 1000:F1} | {measured.ProductTflops * 1000:F0} | {predicted.OutputTokensPerSecond:F1} | {measured.OutputTokensPerSecond:F1} | {e[0]:+0%;-0%;0%} | " +
                        $"{predicted.TtftP50 * 1000:F0} ms | {measured.TtftP50Seconds * 1000:F0} ms | {e[1]:+0%;-0%;0%} | {predicted.TtftP99 * 1000:F0} ms | {measured.TtftP99Seconds * 1000:F0} ms | {e[2]:+0%;-0%;0%} |");
                }
            }
            Console.WriteLine($"mean |error| {errors.Average():P1}, worst {errors.Max():P1} over {errors.Count} figures, each run predicted at the bandwidth probed around it " +
                $"(at the profile's {profile.MemoryBandwidthTbps * 1000:F1} GB/s instead: mean {fixedErrors.Average():P1}, worst {fixedErrors.Max():P1})");
            Console.WriteLine($"with the products' rates as probed once rather than around each run: mean {unscaledErrors.Average():P1}, worst {unscaledErrors.Max():P1}");
            notes.ForEach(Console.WriteLine);
            return 0;
        }));
        return cmd;
    }
}
