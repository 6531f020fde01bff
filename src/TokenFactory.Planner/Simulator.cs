namespace TokenFactory.Planning;

/// <summary>
/// A discrete-event simulation of TokenFactory's continuous-batching scheduler on one replica: requests wait in arrival
/// order and join while fewer than <see cref="MaxRunning"/> run and the KV cache can hold their whole length; each step
/// decodes one token of every generating sequence first, then fills the rest of its token budget with prompt chunks,
/// oldest first; a prompt's last chunk yields its first token. Step times come from the <see cref="StepCostModel"/>.
/// Percentiles come from the simulated requests, not from averages.
/// </summary>
public sealed class Simulator(StepCostModel cost)
{
    /// <summary>Sequences run at once (the engine's max running).</summary>
    public int MaxRunning { get; init; } = 256;

    /// <summary>Tokens per step (decodes plus prompt chunks: the engine's max batch tokens).</summary>
    public int MaxBatchTokens { get; init; } = 8192;

    private sealed class Request
    {
        public double Arrival, FirstToken, Finish;
        public int Input, Output, PrefillLeft, Generated;
        public bool PrefillDone; // its prompt's last chunk ran in the current step
    }

    public SimulationResult Run(Workload w)
    {
        var random = new Random(w.Seed);
        int Length(int mean) => Math.Max(1, (int)Math.Round(mean * (1 + w.Spread * (2 * random.NextDouble() - 1))));
        var requests = new List<Request>(w.Requests);
        double t = 0;
        for (int i = 0; i < w.Requests; i++)
        {
            if (w.ArrivalRate > 0)
                t += -Math.Log(1 - random.NextDouble()) / w.ArrivalRate;
            requests.Add(new Request { Arrival = w.ArrivalRate > 0 ? t : 0, Input = Length(w.InputTokens), Output = Length(w.OutputTokens) });
        }
        foreach (var r in requests)
            r.PrefillLeft = r.Input;

        double kvCapacity = Math.Max(0, cost.Deployment.KvCapacityTokens);
        int limit = w.ArrivalRate > 0 ? MaxRunning : Math.Min(MaxRunning, Math.Max(1, w.Concurrency));
        var waiting = new Queue<Request>();
        var running = new List<Request>();
        int next = 0, done = 0;
        double now = 0, busy = 0, kvUsed = 0, prefillBusy = 0, batchSum = 0;
        long steps = 0, inputTokens = 0, outputTokens = 0;
        while (done < requests.Count)
        {
            while (next < requests.Count && requests[next].Arrival <= now)
                waiting.Enqueue(requests[next++]);
            while (waiting.Count > 0 && running.Count < limit && (running.Count == 0 || kvUsed + waiting.Peek().Input + waiting.Peek().Output <= kvCapacity))
            {
                var r = waiting.Dequeue();
                if (w.ArrivalRate <= 0)
                    r.Arrival = now; // closed loop: a client sends its next request when a slot frees, so its clock starts now
                kvUsed += r.Input + r.Output;
                running.Add(r);
            }
            if (running.Count == 0)
            {
                now = requests[next].Arrival; // idle until the next arrival
                continue;
            }

            // Decode first: one token for each generating sequence; then prompt chunks, oldest first, within the budget.
            int decode = 0;
            double decodeContext = 0;
            foreach (var r in running)
            {
                if (r.PrefillLeft == 0)
                {
                    decode++;
                    decodeContext += r.Input + r.Generated;
                }
            }
            int budget = Math.Max(0, MaxBatchTokens - decode), prefill = 0, prefillSequences = 0;
            double prefillContext = 0;
            foreach (var r in running)
            {
                if (r.PrefillLeft == 0 || budget == 0)
                    continue;
                int chunk = Math.Min(r.PrefillLeft, budget);
                prefillContext += (r.Input - r.PrefillLeft + chunk / 2.0) * chunk;
                r.PrefillLeft -= chunk;
                budget -= chunk;
                prefill += chunk;
                prefillSequences++;
                r.PrefillDone = r.PrefillLeft == 0;
            }
            double step = cost.Seconds(decode, decode > 0 ? decodeContext / decode : 0, prefill, prefillSequences, prefill > 0 ? prefillContext / prefill : 0);
            now += step;
            busy += step;
            prefillBusy += step * prefill / Math.Max(1, prefill + decode);
            batchSum += decode + prefillSequences;
            steps++;
            inputTokens += prefill;

            for (int i = running.Count - 1; i >= 0; i--)
            {
                var r = running[i];
                bool decoded = r.PrefillLeft == 0 && !r.PrefillDone && r.Generated > 0;
                if (r.PrefillDone)
                {
                    r.PrefillDone = false;
                    r.FirstToken = now;
                    r.Generated = 1;
                    outputTokens++;
                }
                else if (decoded)
                {
                    r.Generated++;
                    outputTokens++;
                }
                if (r.Generated >= r.Output && r.PrefillLeft == 0)
                {
                    r.Finish = now;
                    kvUsed -= r.Input + r.Output;
                    running.RemoveAt(i);
                    done++;
                }
            }
        }

        var ttft = requests.Select(r => r.FirstToken - r.Arrival).Order().ToArray();
        var tpot = requests.Where(r => r.Output > 1).Select(r => (r.Finish - r.FirstToken) / (r.Output - 1)).Order().ToArray();
        double span = now - (w.ArrivalRate > 0 ? requests[0].Arrival : 0);
        return new SimulationResult
        {
            OutputTokensPerSecond = outputTokens / span,
            InputTokensPerSecond = inputTokens / span,
            TtftMean = ttft.Average(),
            TtftP50 = Percentile(ttft, 0.5),
            TtftP99 = Percentile(ttft, 0.99),
            TpotP50 = Percentile(tpot, 0.5),
            TpotP99 = Percentile(tpot, 0.99),
            TpotMean = tpot.Length > 0 ? tpot.Average() : 0,
            Utilization = busy / span,
            PrefillShare = busy > 0 ? prefillBusy / busy : 0,
            MeanBatch = steps > 0 ? batchSum / steps : 0,
            Steps = steps,
            Seconds = span,
        };
    }

    internal static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
