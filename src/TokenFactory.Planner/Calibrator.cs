namespace TokenFactory.Planning;

/// <summary>One engine run the planner is fitted to or checked against: the workload, the engine's limits, what was measured.</summary>
public sealed record MeasuredRun(Workload Workload, int MaxBatchTokens, int MaxRunning, double OutputTokensPerSecond, double TtftMeanSeconds)
{
    public double TtftP50Seconds { get; init; }
    public double TtftP99Seconds { get; init; }
    /// <summary>
    /// The memory bandwidth probed around the run, TB/s (0: not probed). A shared machine's moves with its neighbours (this VM's
    /// read 45 to 87 GB/s within an hour), so the run is predicted at its own rather than at the profile's.
    /// </summary>
    public double BandwidthTbps { get; init; }
    /// <summary>
    /// The products' rate at <see cref="ProductProbeRows"/> rows probed around the run, TFLOPS (0: not probed): the run is
    /// predicted with the probed rates by rows scaled to it.
    /// </summary>
    public double ProductTflops { get; init; }

    /// <summary>The rows of the products probed around each run: a prompt chunk's worth, where the rates by rows level off.</summary>
    public const int ProductProbeRows = 64;

    public string Label => Workload.OpenLoop
        ? $"{Workload.InputTokens}/{Workload.OutputTokens} tokens, Poisson {Workload.ArrivalRate:0.##}/s"
        : $"{Workload.InputTokens}/{Workload.OutputTokens} tokens, {Workload.Concurrency} in flight";
}

/// <summary>What <see cref="Calibrator.Fit"/> found: the rates and factors, and the mean relative error they leave on the runs.</summary>
/// <param name="LayerOverheadMs">The fixed cost of a step per block of the model (the fit's per-step cost of the calibrated model over its depth), which other models scale by theirs.</param>
public sealed record CalibrationFit(double Tflops, double AttentionTflops, double MemoryEfficiency, double LayerOverheadMs, double CacheReadElementsPerSecond, double UnoverlappedShare,
    double Error)
{
    /// <summary>The rate of a token's work outside the products (<see cref="HardwareProfile.ElementsPerSecond"/>) when the products' rate was probed; null when one compute rate was fitted.</summary>
    public double? ElementsPerSecond { get; init; }
    /// <summary>The products' rates as probed (<see cref="HardwareProfile.ProductRates"/>), which the fit was made with; null when one compute rate was fitted.</summary>
    public ProductRates? Products { get; init; }
}

/// <summary>
/// Fits a CPU's compute rate (or, where the products' rate was probed, the rate of the rest of a token's work in its place),
/// bandwidth efficiency, per-step overhead, attention's FLOP rate and its cache-read rate so the simulated engine reproduces
/// measured runs, minimizing the mean relative error of output tokens/s and mean TTFT: a coarse grid over the first three,
/// then Nelder–Mead over those five and the share of compute and weight reads that does not overlap
/// (<see cref="HardwareProfile.UnoverlappedShare"/>).
/// </summary>
public static class Calibrator
{
    /// <summary>
    /// The most the bandwidth efficiency may be: the engine cannot stream its weights faster than the probe reads memory, when
    /// the probe runs around each measured run (a shared machine's bandwidth moves: this VM's read 41 to 79 GB/s within one
    /// check). Allowed above 1, fits settled at the bound and moved the difference into a per-step overhead: the same
    /// calibration error, but a batch of 2 then came out 10 % faster than measured.
    /// </summary>
    public const double MaxEfficiency = 1.0;

    /// <param name="products">
    /// The rates the engine's products over the model's matrices were probed at, by rows: the compute rate is then those, and the
    /// fit finds the rate of the per-token work outside them (<see cref="HardwareProfile.ElementsPerSecond"/>) in its place, so
    /// another shape's balance of the two is predicted; null: one compute rate fitted for all of it.
    /// </param>
    public static CalibrationFit Fit(ModelProfile model, Precision precision, double bandwidthTbps, double memoryGb, IReadOnlyList<MeasuredRun> runs, ProductRates? products = null)
    {
        // f is the compute rate (TFLOPS), or with the products' rate given, the rest's rate in G elements/s.
        double Error(double f, double e, double o, double a, double c, double k) => MeanError(Profile(f, e, o, a, c, k), model, precision, runs);
        // A coarse grid first (the three trade off against each other, and a coordinate search alone stops in the valley
        // between them), then coordinate searches from its best point.
        // Elements per second: a few per nanosecond, where a widening copy through L2 runs. The calibration runs pin this rate
        // only loosely against attention's FLOP rate (both grow with the context), so the simplex starting here is what keeps it
        // physical: started far from it (restarts at a quarter and four times) it found equally good fits at 3.7 to 188 G/s,
        // and the other shapes' long prompts then came out 4 to 30 % off.
        const double cacheStart = 4e9, unoverlappedStart = 0.3;
        double tflops = 0.2, efficiency = 0.6, overhead = 1.0, best = double.MaxValue;
        foreach (double f in products is null ? Geometric(0.01, 20, 14) : Geometric(0.1, 100, 14))
        {
            foreach (double e in Geometric(0.1, MaxEfficiency, 9))
            {
                foreach (double o in Geometric(0.01, 20, 12))
                {
                    double error = Error(f, e, o, products?.PeakTflops ?? f, cacheStart, unoverlappedStart);
                    if (error < best)
                        (best, tflops, efficiency, overhead) = (error, f, e, o);
                }
            }
        }
        // Then all five, attention's own rate starting at the multiplications'.
        double attention = products?.PeakTflops ?? tflops, cache = cacheStart, unoverlapped = unoverlappedStart;
        double[] start = [Math.Log(tflops), Math.Log(efficiency), Math.Log(overhead), Math.Log(attention), Math.Log(cache), Math.Log(unoverlapped / (1 - unoverlapped))];
        static double Share(double p) => 1 / (1 + Math.Exp(-p)); // within (0, 1)
        double Objective(double[] p) => Error(Math.Exp(p[0]), Math.Min(MaxEfficiency, Math.Exp(p[1])), Math.Exp(p[2]), Math.Exp(p[3]), Math.Exp(p[4]), Share(p[5]));
        var (x, fx) = NelderMead(Objective, start, 0.3, 600);
        for (int restart = 0; restart < 3; restart++) // a simplex that collapsed in a valley starts afresh from where it stopped
        {
            var (again, value) = NelderMead(Objective, x, 0.2, 600);
            if (value >= fx)
                break;
            (x, fx) = (again, value);
        }
        if (fx < best)
            (best, tflops, efficiency, overhead, attention, cache, unoverlapped) = (fx, Math.Exp(x[0]), Math.Min(MaxEfficiency, Math.Exp(x[1])), Math.Exp(x[2]), Math.Exp(x[3]), Math.Exp(x[4]), Share(x[5]));
        return products is not null
            ? new CalibrationFit(products.PeakTflops, attention, efficiency, overhead / Math.Max(1, model.Layers), cache, unoverlapped, best) { ElementsPerSecond = tflops * 1e9, Products = products }
            : new CalibrationFit(tflops, attention, efficiency, overhead / Math.Max(1, model.Layers), cache, unoverlapped, best);

        HardwareProfile Profile(double f, double e, double o, double a, double c, double k) => new()
        {
            AttentionTflops = a, CacheReadElementsPerSecond = c, UnoverlappedShare = k,
            Id = CpuProfile.Id, Name = "calibrating", MemoryGb = memoryGb, MemoryBandwidthTbps = bandwidthTbps,
            PeakTflops = HardwareProfile.OneRate(products?.PeakTflops ?? f), ProductRates = products, ComputeEfficiency = 1, MoeEfficiency = 1,
            ElementsPerSecond = products is null ? null : f * 1e9,
            MemoryEfficiency = e, StepOverheadMs = 0, LayerOverheadMs = o / Math.Max(1, model.Layers),
        };
    }

    private static IEnumerable<double> Geometric(double from, double to, int count) =>
        Enumerable.Range(0, count).Select(i => from * Math.Pow(to / from, i / (double)(count - 1)));

    /// <summary>The simulated engine's figures for each run on <paramref name="hardware"/> (at the rates probed around the run, when it has them: <see cref="AsProbed"/>).</summary>
    public static IReadOnlyList<SimulationResult> Predict(HardwareProfile hardware, ModelProfile model, Precision precision, IReadOnlyList<MeasuredRun> runs) =>
        [.. runs.Select(run => new Simulator(new StepCostModel(new Deployment(model, AsProbed(hardware, run), precision)
        {
            KvBytesPerElement = 2,
        }))
        {
            MaxBatchTokens = run.MaxBatchTokens,
            MaxRunning = run.MaxRunning,
        }.Run(run.Workload))];

    /// <summary>
    /// <paramref name="hardware"/> at the memory bandwidth probed around <paramref name="run"/>, when it was, and with its
    /// products' rates by rows scaled to the 64-row rate probed around it, when both are there.
    /// </summary>
    public static HardwareProfile AsProbed(HardwareProfile hardware, MeasuredRun run)
    {
        if (run.BandwidthTbps > 0)
            hardware = hardware with { MemoryBandwidthTbps = run.BandwidthTbps };
        if (run.ProductTflops > 0 && hardware.ProductRates is { } rates)
            hardware = hardware with { ProductRates = rates.Scaled(run.ProductTflops / rates.Tflops(MeasuredRun.ProductProbeRows)) };
        return hardware;
    }

    public static double MeanError(HardwareProfile hardware, ModelProfile model, Precision precision, IReadOnlyList<MeasuredRun> runs)
    {
        var predicted = Predict(hardware, model, precision, runs);
        double sum = 0;
        for (int i = 0; i < runs.Count; i++)
        {
            sum += Math.Abs(predicted[i].OutputTokensPerSecond / runs[i].OutputTokensPerSecond - 1);
            sum += Math.Abs(predicted[i].TtftMean / runs[i].TtftMeanSeconds - 1);
        }
        return sum / (2 * runs.Count);
    }

    /// <summary>Nelder–Mead simplex minimization (the errors are not smooth enough for gradients: steps are discrete).</summary>
    private static (double[] X, double F) NelderMead(Func<double[], double> f, double[] start, double step, int iterations)
    {
        int n = start.Length;
        var points = new double[n + 1][];
        var values = new double[n + 1];
        for (int i = 0; i <= n; i++)
        {
            points[i] = (double[])start.Clone();
            if (i > 0)
                points[i][i - 1] += step;
            values[i] = f(points[i]);
        }
        for (int it = 0; it < iterations; it++)
        {
            Array.Sort(values, points);
            var centroid = new double[n];
            for (int i = 0; i < n; i++)
                for (int d = 0; d < n; d++)
                    centroid[d] += points[i][d] / n;
            double[] Along(double t) => [.. Enumerable.Range(0, n).Select(d => centroid[d] + t * (points[n][d] - centroid[d]))];
            var reflected = Along(-1);
            double fr = f(reflected);
            if (fr < values[0])
            {
                var expanded = Along(-2);
                double fe = f(expanded);
                (points[n], values[n]) = fe < fr ? (expanded, fe) : (reflected, fr);
            }
            else if (fr < values[n - 1])
                (points[n], values[n]) = (reflected, fr);
            else
            {
                var contracted = Along(0.5);
                double fc = f(contracted);
                if (fc < values[n])
                    (points[n], values[n]) = (contracted, fc);
                else
                {
                    for (int i = 1; i <= n; i++)
                    {
                        for (int d = 0; d < n; d++)
                            points[i][d] = points[0][d] + 0.5 * (points[i][d] - points[0][d]);
                        values[i] = f(points[i]);
                    }
                }
            }
        }
        Array.Sort(values, points);
        return (points[0], values[0]);
    }
}
