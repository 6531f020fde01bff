using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using TokenFactory.Cli.Planning;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory plan</c>: how many devices, racks and megawatts a model at a latency target needs for a demand, and
/// what a million tokens costs, per kind of hardware (docs/planner.md). Subcommands: <c>calibrate</c> measures this
/// machine, <c>check</c> measures how well the planner predicts this machine.
/// </summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Catalog model name (see --list-models) or a GGUF file" };
        var hardware = new Option<string[]>("--hardware") { Description = "Hardware id (repeatable; default: every catalog entry)", AllowMultipleArgumentsPerToken = false };
        var devices = new Option<int?>("--devices") { Description = "Report a fixed number of devices instead of sizing for a demand" };
        var precision = new Option<string?>("--precision") { Description = "BF16, FP8, FP4 (NVFP4/MXFP4), Q8_0, Q4_K, F32 (default: a GGUF file's own, else BF16)" };
        var isl = new Option<int>("--isl") { Description = "Mean input tokens per request", DefaultValueFactory = _ => 1024 };
        var osl = new Option<int>("--osl") { Description = "Mean output tokens per request", DefaultValueFactory = _ => 256 };
        var dataset = new Option<string?>("--dataset") { Description = "Request lengths from a bench serve dataset (JSON lines: prompt or input_len, output_len) instead of --isl/--osl means" };
        var spread = new Option<double>("--spread") { Description = "Lengths spread uniformly by ± this fraction of the mean", DefaultValueFactory = _ => 0.25 };
        var scenario = new Option<string>("--scenario") { Description = "server (Poisson arrivals at the demand) or offline (best batch)", DefaultValueFactory = _ => "server" };
        var ttft = new Option<double?>("--ttft-p99") { Description = "p99 time-to-first-token target, ms" };
        var classes = new Option<string[]>("--class")
        {
            Description = "A priority class, highest first (repeatable): NAME:SHARE[:ttft-p99=MS][:tpot-p99=MS][:ttft-p50=MS][:tpot-p50=MS], " +
                "e.g. interactive:0.3:ttft-p99=500:tpot-p99=30 batch:0.7:ttft-p99=60000; replaces the request-wide targets",
            AllowMultipleArgumentsPerToken = true,
        };
        var ttft50 = new Option<double?>("--ttft-p50") { Description = "median time-to-first-token target, ms" };
        var tpot50 = new Option<double?>("--tpot-p50") { Description = "median time-per-output-token target, ms" };
        var tpot = new Option<double?>("--tpot-p99") { Description = "p99 time-per-output-token target, ms (50 tokens/s per user = 20)" };
        var perDay = new Option<double?>("--tokens-per-day") { Description = "Demand: output tokens per day for the deployment (e.g. 2e9)" };
        var people = new Option<double?>("--people") { Description = "Token-budget form: people whose work spends tokens" };
        var salary = new Option<double>("--salary") { Description = "Token-budget form: yearly salary per person, USD", DefaultValueFactory = _ => 500_000 };
        var share = new Option<double>("--token-share") { Description = "Token-budget form: share of the salary spent on tokens", DefaultValueFactory = _ => 0.5 };
        var price = new Option<double?>("--usd-per-mtok") { Description = "Token-budget form: price of a million tokens (default: each option's own planned cost)" };
        var tp = new Option<int?>("--tp") { Description = "Fixed tensor-parallel degree (default: the best within the interconnect domain)" };
        var ep = new Option<int?>("--ep") { Description = "Fixed expert-parallel degree of a mixture: attention groups per replica, the experts spread over all its devices (default: the best within the interconnect domain; 1: none)" };
        var batchTokens = new Option<int?>("--max-batch-tokens") { Description = "Engine token budget per step, for a whole replica (default 8192 per attention group on GPUs, or the prompt length if longer; 256 on this machine)" };
        var pue = new Option<double>("--pue") { Description = "Facility power usage effectiveness", DefaultValueFactory = _ => 1.2 };
        var kwh = new Option<double>("--usd-per-kwh") { Description = "Energy price: each option's energy cost per million output tokens is reported apart (the hourly prices already include it)", DefaultValueFactory = _ => 0.08 };
        var cap = new Option<double?>("--power-cap-mw") { Description = "Site power cap, MW" };
        var utilization = new Option<double>("--utilization") { Description = "Share of a replica's capacity the demand may use", DefaultValueFactory = _ => 0.7 };
        var catalog = new Option<string?>("--catalog") { Description = "A hardware catalog YAML file adding to (or replacing) the built-in entries" };
        var modelsCatalog = new Option<string?>("--models-catalog") { Description = "A model catalog YAML file adding to the built-in entries" };
        var profile = new Option<string?>("--profile") { Description = $"CPU profile from `plan calibrate` (default {CpuProfile.DefaultPath})" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var svg = new Option<string?>("--svg") { Description = "Write the throughput-vs-interactivity frontier as an SVG file" };
        var listModels = new Option<bool>("--list-models") { Description = "Print the catalog's model names" };
        var listHardware = new Option<bool>("--list-hardware") { Description = "Print the catalog's hardware ids" };
        var cmd = new Command("plan", "Size a deployment: devices, racks, MW and $/Mtok for a model at a latency target and a demand")
        {
            model, hardware, devices, precision, isl, osl, dataset, spread, scenario, ttft, tpot, ttft50, tpot50, classes, perDay, people, salary, share, price, tp, ep, batchTokens,
            pue, kwh, cap, utilization, catalog, modelsCatalog, profile, json, svg, listModels, listHardware,
        };
        cmd.Subcommands.Add(PlanCalibrateCommand.Create());
        cmd.Subcommands.Add(PlanCheckCommand.Create());
        cmd.Subcommands.Add(PlanPublishedCommand.Create());
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            if (r.GetValue(profile) is string profilePath && !File.Exists(profilePath))
                throw new TokenFactoryException($"--profile {profilePath}: no such file (write one with `tokenfactory plan calibrate`).");
            var measured = CpuProfile.Load(r.GetValue(profile))?.ToHardware();
            if (r.GetValue(listModels))
            {
                foreach (var m in Catalogs.Models(r.GetValue(modelsCatalog)))
                    Console.WriteLine($"{m.Name,-28} {m.TotalParameters / 1e9,7:F1}B total {m.ActiveParameters / 1e9,6:F1}B active");
                return 0;
            }
            if (r.GetValue(listHardware))
            {
                foreach (var h in Catalogs.Hardware(r.GetValue(catalog), measured))
                    Console.WriteLine($"{h.Id,-18} {h.Name}");
                return 0;
            }
            string modelName = r.GetValue(model) ?? throw new TokenFactoryException("--model is required (a catalog name, see --list-models, or a GGUF file).");
            var profileOf = Catalogs.FindModel(modelName, r.GetValue(modelsCatalog));
            var chosenPrecision = r.GetValue(precision) is string p ? Precisions.Parse(p)
                : File.Exists(modelName) ? GgufPrecision.Of(modelName) : Precision.BF16;
            var ids = r.GetValue(hardware) ?? [];
            var targets = ids.Length > 0 ? ids.Select(id => Catalogs.FindHardware(id, r.GetValue(catalog), measured)).ToList()
                : Catalogs.Hardware(r.GetValue(catalog), measured).Where(h => !h.Announced || ids.Contains(h.Id)).ToList();
            string scenarioName = r.GetValue(scenario)!;
            if (scenarioName is not ("server" or "offline"))
                throw new TokenFactoryException($"--scenario must be server or offline, not '{scenarioName}'.");
            List<RequestLength>? lengths = null;
            if (r.GetValue(dataset) is string datasetPath)
            {
                foreach (var refused in new Option[] { isl, spread })
                {
                    if (r.GetResult(refused) is { Implicit: false })
                        throw new TokenFactoryException($"{refused.Name} and --dataset cannot be used together: the dataset gives each request's lengths.");
                }
                lengths = PlanDataset.Read(datasetPath, Math.Max(1, r.GetValue(osl))); // --osl: for lines without output_len
            }
            CheckNumbers(r, isl, osl, spread, devices, batchTokens, pue, kwh, utilization, [ttft, tpot, ttft50, tpot50, perDay, cap]);
            bool budgetForm = r.GetValue(people) is not null;
            if (budgetForm)
            {
                Check(r.GetValue(people) is > 0 and < double.PositiveInfinity, "--people must be a positive number.");
                Check(r.GetValue(salary) is > 0 and < double.PositiveInfinity, "--salary must be a positive number of USD a year.");
                Check(r.GetValue(share) is > 0 and <= 1, "--token-share must be above 0 and at most 1.");
                Check(r.GetValue(price) is null or (> 0 and < double.PositiveInfinity), "--usd-per-mtok must be a positive price.");
                Check(r.GetValue(perDay) is null, "--people and --tokens-per-day cannot be used together: the token-budget form gives the demand.");
            }
            else
            {
                foreach (var needsPeople in new Option[] { salary, share, price })
                    Check(r.GetResult(needsPeople) is null or { Implicit: true }, $"{needsPeople.Name} is part of the token-budget form and needs --people.");
            }
            Check(r.GetValue(devices) is null || (r.GetValue(perDay) is null && !budgetForm),
                "--devices reports what that many devices give; a demand (--tokens-per-day or --people) sizes the devices: choose one.");
            var planClasses = PlanClassSyntax.ParseAll(r.GetValue(classes) ?? []);
            if (planClasses.Count > 0)
            {
                foreach (var refused in new Option[] { ttft, tpot, ttft50, tpot50 })
                {
                    if (r.GetResult(refused) is { Implicit: false })
                        throw new TokenFactoryException($"{refused.Name} and --class cannot be used together: each class has its own targets.");
                }
            }
            if (r.GetValue(tp) is int fixedTp && fixedTp < 1)
                throw new TokenFactoryException($"--tp must be at least 1, got {fixedTp}.");
            if (r.GetValue(ep) is int fixedEp)
            {
                if (fixedEp < 1)
                    throw new TokenFactoryException($"--ep must be at least 1, got {fixedEp}.");
                if (fixedEp > 1 && !profileOf.IsMoe)
                    throw new TokenFactoryException($"--ep {fixedEp}: {profileOf.Name} has no routed experts to spread; expert parallelism applies to a mixture of experts.");
                if (fixedEp > profileOf.RoutedExperts && profileOf.IsMoe)
                    throw new TokenFactoryException($"--ep {fixedEp}: {profileOf.Name} has {profileOf.RoutedExperts} routed experts, fewer than the degree.");
            }
            var request = new PlanRequest
            {
                Classes = planClasses,
                Model = profileOf,
                Hardware = targets,
                Precision = chosenPrecision,
                InputTokens = lengths != null ? (int)Math.Round(lengths.Average(l => l.Input)) : r.GetValue(isl),
                OutputTokens = lengths != null ? Math.Max(1, (int)Math.Round(lengths.Average(l => l.Output))) : r.GetValue(osl),
                Lengths = lengths,
                Spread = r.GetValue(spread),
                Scenario = scenarioName,
                TtftP99Ms = r.GetValue(ttft),
                TpotP99Ms = r.GetValue(tpot),
                TtftP50Ms = r.GetValue(ttft50),
                TpotP50Ms = r.GetValue(tpot50),
                OutputTokensPerDay = r.GetValue(perDay),
                Devices = r.GetValue(devices),
                TensorParallel = r.GetValue(tp),
                ExpertParallel = r.GetValue(ep),
                MaxBatchTokens = r.GetValue(batchTokens),
                Site = new Site { Pue = r.GetValue(pue), UsdPerKwh = r.GetValue(kwh), PowerCapMw = r.GetValue(cap), Utilization = r.GetValue(utilization) },
            };
            var result = r.GetValue(people) is double staff
                ? PlanBudget(request, staff, r.GetValue(salary), r.GetValue(share), r.GetValue(price))
                : Planner.Plan(request);
            if (r.GetValue(svg) is string svgPath)
                File.WriteAllText(svgPath, FrontierSvg.Render($"{result.Model} {result.Precision}, {result.InputTokens}/{result.OutputTokens} tokens",
                    [.. result.Options.Where(o => o.Frontier.Count > 0).Select(o => (o.Hardware, o.Frontier))]));
            if (r.GetValue(json))
                Console.WriteLine(PlanJson.Write(result, r.GetValue(people) is double who ? new TokenBudget(who, r.GetValue(salary), r.GetValue(share), 0) : null));
            else
                PlanText.Write(Console.Out, result);
            return 0;
        }));
        return cmd;
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
            throw new TokenFactoryException(message);
    }

    /// <summary>Numbers the plan would otherwise bend or divide by: each refused naming its option, as the HTTP endpoint refuses them.</summary>
    private static void CheckNumbers(ParseResult r, Option<int> isl, Option<int> osl, Option<double> spread, Option<int?> devices, Option<int?> batchTokens,
        Option<double> pue, Option<double> kwh, Option<double> utilization, Option<double?>[] positive)
    {
        Check(r.GetValue(isl) >= 1, $"--isl must be at least 1, got {r.GetValue(isl)}.");
        Check(r.GetValue(osl) >= 1, $"--osl must be at least 1, got {r.GetValue(osl)}.");
        Check(r.GetValue(spread) is >= 0 and < 1, $"--spread must be at least 0 and below 1 (a fraction of the mean), got {r.GetValue(spread)}.");
        Check(r.GetValue(devices) is null or >= 1, $"--devices must be at least 1, got {r.GetValue(devices)}.");
        Check(r.GetValue(batchTokens) is null or >= 1, $"--max-batch-tokens must be at least 1, got {r.GetValue(batchTokens)}.");
        Check(r.GetValue(pue) is >= 1 and < double.PositiveInfinity, $"--pue must be at least 1 (facility power over IT power), got {r.GetValue(pue)}.");
        Check(r.GetValue(kwh) is >= 0 and < double.PositiveInfinity, $"--usd-per-kwh must be a price of 0 or more, got {r.GetValue(kwh)}.");
        Check(r.GetValue(utilization) is > 0 and <= 1, $"--utilization must be above 0 and at most 1, got {r.GetValue(utilization)}.");
        foreach (var option in positive)
            Check(r.GetValue(option) is null or (> 0 and < double.PositiveInfinity), $"{option.Name} must be a positive number, got {r.GetValue(option)}.");
    }

    /// <summary>The token-budget form: the yearly token spend of the people, at a price, as output tokens per day; each option sized for it.</summary>
    private static PlanResult PlanBudget(PlanRequest request, double people, double salary, double share, double? price)
    {
        var options = new List<PlanOption>();
        double? firstDemand = null;
        foreach (var hardware in request.Hardware)
        {
            double perMtok = price ?? Planner.PlanOne(request with { OutputTokensPerDay = null }, hardware).UsdPerMillionOutputTokens;
            if (!(perMtok > 0) || double.IsInfinity(perMtok))
            {
                options.Add(Planner.PlanOne(request, hardware));
                continue;
            }
            double tokensPerDay = new TokenBudget(people, salary, share, perMtok).TokensPerDay;
            firstDemand ??= tokensPerDay;
            options.Add(Planner.PlanOne(request with { OutputTokensPerDay = tokensPerDay }, hardware));
        }
        return new PlanResult
        {
            Model = request.Model.Name, Precision = request.Precision.ToString(), InputTokens = request.InputTokens, OutputTokens = request.OutputTokens,
            Scenario = request.Scenario, OutputTokensPerDay = price is not null ? firstDemand : null, Options = options,
        };
    }
}
