namespace TokenFactory.Planning;

/// <summary>
/// Finds, per kind of hardware, the tensor- and expert-parallel degrees and batch size that give the most output tokens per
/// second per device while meeting the latency targets, checks that operating point under Poisson arrivals (server scenario), and
/// sizes the fleet for the demand: replicas, devices, racks, power, cost, energy per token; with the
/// throughput-vs-interactivity frontier of every configuration it tried.
/// </summary>
public static class Planner
{
    /// <summary>Most sequences one attention group runs at once (a replica with expert parallelism runs one group per degree).</summary>
    private const int MaxSequencesPerGroup = 1024;

    public static PlanResult Plan(PlanRequest request) => new()
    {
        Model = request.Model.Name,
        Precision = request.Precision.ToString(),
        InputTokens = request.InputTokens,
        OutputTokens = request.OutputTokens,
        Scenario = request.Scenario,
        OutputTokensPerDay = request.OutputTokensPerDay,
        Options = [.. request.Hardware.Select(h => PlanOne(request, h))],
    };

    /// <summary>An option on <paramref name="hardware"/> that cannot serve the request, and why.</summary>
    private static PlanOption Infeasible(HardwareProfile hardware, string why, IReadOnlyList<FrontierPoint>? frontier = null) => new()
    {
        Hardware = hardware.Id, HardwareName = hardware.Name, Feasible = false, Why = why, Frontier = frontier ?? [],
    };

    public static PlanOption PlanOne(PlanRequest request, HardwareProfile hardware)
    {
        // A step budget of no tokens would never finish a prompt: the simulation would run forever.
        if (request.MaxBatchTokens is < 1)
            throw new ArgumentOutOfRangeException(nameof(request), request.MaxBatchTokens, "The step token budget must be at least 1.");
        var candidates = new List<(Deployment Deployment, Simulator Simulator, FrontierPoint Point, SimulationResult Result)>();
        var frontier = new List<FrontierPoint>();
        int longest = LongestRequest(request);
        if (longest > request.Model.ContextLength)
        {
            return Infeasible(hardware, $"requests of up to {longest} tokens (prompt and output) exceed {request.Model.Name}'s context of {request.Model.ContextLength}");
        }
        if (request.TensorParallel is int fixedTp && fixedTp > hardware.Domain)
        {
            return Infeasible(hardware, $"tensor parallelism of {fixedTp} does not fit {hardware.Name}'s {hardware.Domain}-device interconnect domain");
        }
        var degrees = ParallelDegrees(request, hardware);
        bool weightsFit = false;
        if (degrees.Count == 0)
        {
            return Infeasible(hardware, $"expert parallelism of {request.ExpertParallel} does not fit {hardware.Name}: it needs a link between devices and a replica of TP × EP devices " +
                    $"within the {hardware.Domain}-device domain{(request.Devices is int d ? $" and the {d} devices given" : "")}, with at least one routed expert per device");
        }
        foreach (var (tp, ep) in degrees)
        {
            var deployment = new Deployment(request.Model, hardware, request.Precision, tp, ep);
            if (!deployment.Fits)
                continue;
            weightsFit = true;
            int maxSequences = Math.Min(MaxSequencesPerGroup * ep, deployment.MaxSequences(request.InputTokens + request.OutputTokens));
            if (maxSequences < 1 || deployment.MaxSequences(longest) < 1)
                continue; // not even one request's cache beside the weights
            var simulator = new Simulator(new StepCostModel(deployment))
            {
                Cancellation = request.Cancellation,
                MaxRunning = maxSequences,
                // GPU engines run large steps (TensorRT-LLM and vLLM default to 8192 tokens, per attention group); a CPU's steps are short.
                MaxBatchTokens = request.MaxBatchTokens ?? (hardware.Id == CpuProfile.Id ? 256 : Math.Max(8192, request.InputTokens) * ep),
            };
            foreach (int c in Concurrencies(MaxSequencesPerGroup * ep).Where(c => c <= maxSequences))
            {
                var result = simulator.Run(new Workload
                {
                    InputTokens = request.InputTokens, OutputTokens = request.OutputTokens, Spread = request.Spread, Lengths = request.Lengths, ClassShares = Shares(request),
                    // Three requests per slot (a steady state: slots refill), up to 2,048 per attention group.
                    Concurrency = c, Requests = Math.Max(Math.Min(2048 * ep, Math.Max(32, 3 * c)), ClassRequests(request)),
                });
                var point = new FrontierPoint(tp, c, result.TpotMean > 0 ? 1 / result.TpotMean : 0, result.OutputTokensPerSecond / deployment.Devices,
                    result.TtftP99 * 1000, result.TpotP99 * 1000, result.TtftP50 * 1000, result.TpotP50 * 1000) { ExpertParallel = ep };
                frontier.Add(point);
                candidates.Add((deployment, simulator, point, result));
            }
        }
        if (candidates.Count == 0)
        {
            double weightsGb = request.Model.TotalParameters * request.Precision.BytesPerWeight() / 1e9;
            return Infeasible(hardware, weightsFit
                    ? $"{request.Model.Name} at {request.Precision} ({weightsGb:F0} GB of weights) leaves no room for one request's cache of up to {longest} tokens on {degrees.Max(d => d.Tp * d.Ep)} × {hardware.MemoryGb:F0} GB in one {hardware.Domain}-device domain"
                    : $"{request.Model.Name} at {request.Precision} ({weightsGb:F0} GB of weights) does not fit {degrees.Max(d => d.Tp * d.Ep)} × {hardware.MemoryGb:F0} GB in one {hardware.Domain}-device domain");
        }

        // Offline: the closed loop is the workload, both targets apply to it. Server: a closed loop at full concurrency
        // queues new prompts behind running ones in a way Poisson arrivals at the chosen load do not, so there only the
        // per-token target picks the batch and the Poisson run below judges the first-token one.
        var meeting = candidates.Where(c => TargetsMet(request, c.Result, perTokenOnly: request.Scenario == "server")).ToList();
        if (meeting.Count == 0)
        {
            var closest = candidates.MinBy(c => c.Point.TpotP99Ms)!;
            return Infeasible(hardware,
                $"no batch size meets the targets: the fastest point has TTFT p50 {closest.Point.TtftP50Ms:F0} ms, p99 {closest.Point.TtftP99Ms:F0} ms, TPOT p50 {closest.Point.TpotP50Ms:F1} ms, p99 {closest.Point.TpotP99Ms:F1} ms",
                Pareto(frontier));
        }
        // For a demand, the configuration that serves it on the fewest devices (a replica of 64 devices is the most
        // efficient per device at full load, and a waste for a demand that 8 serve), then the most tokens per device; for a
        // fixed number of devices or one replica, the most tokens per device.
        double demand = request.Devices is null ? Demand(request) : 0;
        double usable = request.Scenario == "server" ? request.Site.Utilization : 1;
        var best = demand > 0
            ? meeting.MinBy(c => (Math.Ceiling(demand / Math.Max(1e-9, c.Result.OutputTokensPerSecond * usable)) * c.Deployment.Devices, -c.Point.TokensPerSecondPerDevice))
            : meeting.MaxBy(c => c.Point.TokensPerSecondPerDevice);
        var operating = best.Result;
        double perReplica = operating.OutputTokensPerSecond;
        bool met = true;
        if (request.Scenario == "server")
            (perReplica, operating, met) = ServerCapacity(request, best.Simulator, operating.OutputTokensPerSecond * request.Site.Utilization);
        return Size(request, hardware, best.Deployment, best.Point.Concurrency, perReplica, operating, Pareto(frontier), met);
    }

    /// <summary>
    /// Requests a simulation needs so the smallest priority class gets about 100 of them (its p99 is then a percentile, not
    /// its slowest request), at most 4,000 (a class under 2.5 % then gets fewer: <see cref="ClassOutcome.SimulatedRequests"/>
    /// says how many); 0 without classes.
    /// </summary>
    private static int ClassRequests(PlanRequest request)
    {
        if (request.Classes.Count == 0)
            return 0;
        double smallest = request.Classes.Min(c => c.Share) / request.Classes.Sum(c => c.Share);
        return (int)Math.Min(4000, Math.Ceiling(100 / smallest));
    }

    /// <summary>The longest request the workload sends, prompt and output: a dataset's longest, else the means spread up.</summary>
    private static int LongestRequest(PlanRequest request) => request.Lengths is { Count: > 0 } lengths
        ? lengths.Max(l => l.Input + l.Output)
        : (int)Math.Ceiling(request.InputTokens * (1 + request.Spread)) + (int)Math.Ceiling(request.OutputTokens * (1 + request.Spread));

    /// <summary>Output tokens per second the request's demand asks of the deployment (0: no demand given).</summary>
    private static double Demand(PlanRequest request) => request.OutputTokensPerDay is double perDay ? perDay / 86400 : 0;

    private static IReadOnlyList<double>? Shares(PlanRequest request) => request.Classes.Count > 0 ? [.. request.Classes.Select(c => c.Share)] : null;

    /// <summary>
    /// Whether <paramref name="result"/> meets the request's targets: each class its own, else the request-wide ones (only the
    /// per-token targets when <paramref name="perTokenOnly"/>).
    /// </summary>
    private static bool TargetsMet(PlanRequest request, SimulationResult result, bool perTokenOnly)
    {
        if (request.Classes.Count == 0)
            return Meets(request.TtftP99Ms, request.TpotP99Ms, request.TtftP50Ms, request.TpotP50Ms, result.TtftP99, result.TpotP99, result.TtftP50, result.TpotP50, perTokenOnly);
        for (int c = 0; c < request.Classes.Count; c++)
        {
            if (!ClassMeets(request.Classes[c], result.Classes[c], perTokenOnly))
                return false;
        }
        return true;
    }

    // A class the simulation gave no request has not been shown to meet anything.
    private static bool ClassMeets(PlanClass target, ClassLatency got, bool perTokenOnly) =>
        got.Requests > 0 && Meets(target.TtftP99Ms, target.TpotP99Ms, target.TtftP50Ms, target.TpotP50Ms, got.TtftP99, got.TpotP99, got.TtftP50, got.TpotP50, perTokenOnly);

    /// <summary>Targets in ms (null: none) against latencies in seconds.</summary>
    private static bool Meets(double? ttftP99Ms, double? tpotP99Ms, double? ttftP50Ms, double? tpotP50Ms, double ttftP99, double tpotP99, double ttftP50, double tpotP50,
        bool perTokenOnly) =>
        (tpotP99Ms is not double tpot || tpotP99 * 1000 <= tpot) && (tpotP50Ms is not double tpot50 || tpotP50 * 1000 <= tpot50)
        && (perTokenOnly || ((ttftP99Ms is not double ttft || ttftP99 * 1000 <= ttft) && (ttftP50Ms is not double ttft50 || ttftP50 * 1000 <= ttft50)));

    /// <summary>
    /// Poisson arrivals at the chosen load; lowered step by step until the targets hold (queueing shows there, not in a closed
    /// loop). <c>Met</c> is false when 20 steps down (to an eighth of the load) still miss them.
    /// </summary>
    private static (double TokensPerSecond, SimulationResult Result, bool Met) ServerCapacity(PlanRequest request, Simulator simulator, double tokensPerSecond)
    {
        SimulationResult result = null!;
        for (int attempt = 0; attempt < 20; attempt++)
        {
            double rate = tokensPerSecond / request.OutputTokens;
            result = simulator.Run(new Workload
            {
                InputTokens = request.InputTokens, OutputTokens = request.OutputTokens, Spread = request.Spread, Lengths = request.Lengths, ClassShares = Shares(request),
                ArrivalRate = rate, Requests = Math.Max(400, ClassRequests(request)), Seed = 7,
            });
            if (TargetsMet(request, result, perTokenOnly: false))
                return (tokensPerSecond, result, true);
            tokensPerSecond *= 0.9;
        }
        return (tokensPerSecond, result, false);
    }

    private static PlanOption Size(PlanRequest request, HardwareProfile hardware, Deployment deployment, int concurrency, double perReplica, SimulationResult operating,
        IReadOnlyList<FrontierPoint> frontier, bool met)
    {
        double demand = Demand(request);
        int perReplicaDevices = deployment.Devices;
        int replicas = request.Devices is int devicesGiven ? Math.Max(1, devicesGiven / perReplicaDevices)
            : demand > 0 ? (int)Math.Ceiling(demand / perReplica) : 1;
        int devices = replicas * perReplicaDevices;
        double served = demand > 0 && request.Devices is null ? demand : replicas * perReplica;
        double powerKw = devices * hardware.AllInWatts * request.Site.Pue / 1000;
        double usdPerHour = devices * hardware.UsdPerHour;
        double inputPerSecond = served / request.OutputTokens * request.InputTokens;
        bool overCap = request.Site.PowerCapMw is double cap && powerKw / 1000 > cap;
        // Each class's share of the deployment's tokens: the simulated replica's split, scaled to what the deployment serves.
        double scale = operating.OutputTokensPerSecond > 0 ? served / operating.OutputTokensPerSecond : 0;
        var classes = request.Classes.Select((c, i) => new ClassOutcome(c.Name, c.Share, operating.Classes[i].TtftP50 * 1000, operating.Classes[i].TtftP99 * 1000,
            operating.Classes[i].TpotP50 * 1000, operating.Classes[i].TpotP99 * 1000, operating.Classes[i].OutputTokensPerSecond * scale,
            ClassMeets(c, operating.Classes[i], perTokenOnly: false), operating.Classes[i].Requests)).ToList();
        string? missed = !met ? $"no load meets the targets: at an eighth of a replica's capacity TTFT p99 is still {operating.TtftP99 * 1000:F0} ms, TPOT p99 {operating.TpotP99 * 1000:F1} ms"
            : classes.FirstOrDefault(c => !c.Met) is { } late ? $"the {late.Name} class misses its targets (TTFT p99 {late.TtftP99Ms:F0} ms, TPOT p99 {late.TpotP99Ms:F1} ms)" : null;
        return new PlanOption
        {
            Hardware = hardware.Id,
            HardwareName = hardware.Name,
            Feasible = !overCap && missed is null,
            Why = missed ?? (overCap ? $"needs {powerKw / 1000:F2} MW, over the site's {request.Site.PowerCapMw:F2} MW cap" : null),
            TensorParallel = deployment.TensorParallel,
            ExpertParallel = deployment.ExpertParallel,
            Replicas = replicas,
            Devices = devices,
            Racks = Math.Round((double)devices / Math.Max(1, hardware.DevicesPerRack), 2),
            Concurrency = concurrency,
            TokensPerSecond = served,
            TokensPerSecondPerDevice = served / devices,
            TokensPerSecondPerUser = operating.TpotMean > 0 ? 1 / operating.TpotMean : 0,
            TtftP50Ms = operating.TtftP50 * 1000,
            TtftP99Ms = operating.TtftP99 * 1000,
            TpotP50Ms = operating.TpotP50 * 1000,
            TpotP99Ms = operating.TpotP99 * 1000,
            PowerKw = powerKw,
            TokensPerSecondPerMegawatt = served / Math.Max(1e-9, powerKw / 1000),
            JoulesPerToken = powerKw * 1000 / served,
            UsdPerHour = usdPerHour,
            UsdPerMillionOutputTokens = usdPerHour / (served * 3600) * 1e6,
            EnergyUsdPerMillionOutputTokens = powerKw * request.Site.UsdPerKwh / (served * 3600) * 1e6,
            UsdPerMillionInputTokens = inputPerSecond > 0 ? usdPerHour * operating.PrefillShare / (inputPerSecond * 3600) * 1e6 : 0,
            Utilization = Math.Min(1, served / (replicas * perReplica) * operating.Utilization),
            Frontier = frontier,
            Classes = classes,
        };
    }

    /// <summary>Sequences in flight to try: 1, 2, 4, … up to <paramref name="max"/>.</summary>
    private static IEnumerable<int> Concurrencies(int max)
    {
        for (int c = 1; c <= max; c *= 2)
            yield return c;
    }

    /// <summary>
    /// The (tensor, expert) parallel degrees to try on <paramref name="hardware"/>: tensor parallelism alone up to the
    /// interconnect domain; for a mixture also expert parallelism over 2, 4, … attention groups of up to 8 devices, within
    /// the domain, with at least one routed expert per device, over a link. A fixed degree (<c>--tp</c>, <c>--ep</c>) is
    /// taken as given where it can run at all; a fixed number of devices bounds how far one replica may spread.
    /// </summary>
    internal static List<(int Tp, int Ep)> ParallelDegrees(PlanRequest request, HardwareProfile hardware)
    {
        bool tpFixed = request.TensorParallel is not null, epFixed = request.ExpertParallel is not null;
        var tps = request.TensorParallel is int fixedTp ? [fixedTp] : TensorParallelDegrees(hardware.Domain);
        var pairs = new List<(int Tp, int Ep)>();
        foreach (int tp in tps)
        {
            if (request.ExpertParallel is int fixedEp)
            {
                // Expert parallelism needs a link to exchange tokens over and a routed expert per device; with a free TP the
                // groups also stay inside the domain.
                bool runs = fixedEp == 1 || (request.Model.IsMoe && hardware.LinkGbps > 0 && tp * fixedEp <= request.Model.RoutedExperts);
                if (runs && (tpFixed || tp * fixedEp <= hardware.Domain))
                    pairs.Add((tp, fixedEp));
                continue;
            }
            pairs.Add((tp, 1));
            if (!request.Model.IsMoe || hardware.LinkGbps <= 0 || tp > 8)
                continue;
            for (int ep = 2; tp * ep <= hardware.Domain && tp * ep <= request.Model.RoutedExperts; ep *= 2)
                pairs.Add((tp, ep));
        }
        // A fixed number of devices bounds what the search chooses; a degree given by hand is taken as given.
        if (request.Devices is int given)
            pairs = [.. pairs.Where(d => d.Tp * d.Ep <= Math.Max(1, given) || (tpFixed && (epFixed || d.Ep == 1)))];
        return pairs;
    }

    /// <summary>1, 2, 4, … up to the interconnect domain (and the domain itself, e.g. 72).</summary>
    internal static int[] TensorParallelDegrees(int domain)
    {
        var degrees = new List<int>();
        for (int d = 1; d <= Math.Min(domain, 64); d *= 2)
            degrees.Add(d);
        if (domain > 1 && !degrees.Contains(domain))
            degrees.Add(domain);
        return [.. degrees];
    }

    /// <summary>The points no other beats on both axes: the throughput-vs-interactivity frontier, by interactivity.</summary>
    internal static IReadOnlyList<FrontierPoint> Pareto(IEnumerable<FrontierPoint> points)
    {
        var sorted = points.OrderByDescending(p => p.TokensPerSecondPerUser).ToList();
        var result = new List<FrontierPoint>();
        double bestThroughput = double.NegativeInfinity;
        foreach (var p in sorted)
        {
            if (p.TokensPerSecondPerDevice > bestThroughput)
            {
                result.Add(p);
                bestThroughput = p.TokensPerSecondPerDevice;
            }
        }
        return result;
    }
}
