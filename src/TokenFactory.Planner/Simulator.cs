namespace TokenFactory.Planning;

/// <summary>
/// A discrete-event simulation of TokenFactory's continuous-batching scheduler on one replica: requests wait in arrival
/// order and join while fewer than <see cref="MaxRunning"/> run and the KV cache can hold their whole length; each step
/// decodes one token of every generating sequence first, then fills the rest of its token budget with prompt chunks,
/// oldest first; a prompt's last chunk yields its first token. Step times come from the <see cref="StepCostModel"/>.
/// Percentiles come from the simulated requests, not from averages.
/// <para>
/// A closed loop's clients behave as the engine's do: a client sends its next request when its previous one ends, which
/// is just after the step that ended it, and the engine has already started its next step by then, so the new request
/// joins the step after. When the engine has nothing to run, it starts a step with every request sent at that instant:
/// an idle engine gathers a burst before its first step (<c>BatchingEngine</c>), so simultaneous sends never split
/// between two steps.
/// </para>
/// </summary>
public sealed class Simulator(StepCostModel cost)
{
    /// <summary>Sequences run at once (the engine's max running).</summary>
    public int MaxRunning { get; init; } = 256;

    /// <summary>Tokens per step (decodes plus prompt chunks: the engine's max batch tokens).</summary>
    public int MaxBatchTokens { get; init; } = 8192;

    /// <summary>Checked every 1,024 steps: a plan asked for over HTTP stops when its client leaves.</summary>
    public CancellationToken Cancellation { get; init; }

    private sealed class Request
    {
        public double Arrival, FirstToken, Finish;
        public int Input, Output, PrefillLeft, Generated;
        public bool PrefillDone; // its prompt's last chunk ran in the current step
        public bool SentAtStepEnd; // closed loop: sent at the instant a step ended (or all at once at the start)
        public int Class; // priority class, 0 highest
    }

    public SimulationResult Run(Workload w)
    {
        var random = new Random(w.Seed);
        int Length(int mean) => Math.Max(1, (int)Math.Round(mean * (1 + w.Spread * (2 * random.NextDouble() - 1))));
        int count = w.Arrivals?.Count ?? w.Requests;
        var requests = new List<Request>(count);
        double t = 0;
        for (int i = 0; i < count; i++)
        {
            if (w.Arrivals != null)
                t = w.Arrivals[i];
            else if (w.ArrivalRate > 0)
                t += -Math.Log(1 - random.NextDouble()) / w.ArrivalRate;
            var lengths = w.Lengths is { Count: > 0 } given ? given[i % given.Count] : new RequestLength(Length(w.InputTokens), Length(w.OutputTokens));
            requests.Add(new Request { Arrival = w.OpenLoop ? t : 0, Input = Math.Max(1, lengths.Input), Output = Math.Max(1, lengths.Output) });
        }
        foreach (var r in requests)
            r.PrefillLeft = r.Input;
        if (w.ClassShares is { Count: > 1 } shares)
        {
            var classRandom = new Random(w.Seed + 2);
            double total = shares.Sum();
            foreach (var r in requests)
            {
                double u = classRandom.NextDouble() * total, acc = 0;
                int c = 0;
                while (c < shares.Count - 1 && u >= (acc += shares[c]))
                    c++;
                r.Class = c;
            }
        }
        int classCount = Math.Max(1, w.ClassShares?.Count ?? 1);

        bool closed = !w.OpenLoop;
        double kvCapacity = Math.Max(0, cost.Deployment.KvCapacityTokens);
        var waiting = new List<Request>();
        var running = new List<Request>();
        int next = 0, done = 0;
        if (closed)
        {
            for (; next < Math.Min(count, Math.Max(1, w.Concurrency)); next++)
            {
                requests[next].SentAtStepEnd = true;
                Enqueue(waiting, requests[next]);
            }
        }
        double now = 0, busy = 0, kvUsed = 0, prefillBusy = 0, batchSum = 0;
        long steps = 0, inputTokens = 0, outputTokens = 0;
        while (done < requests.Count)
        {
            if ((steps & 1023) == 0)
                Cancellation.ThrowIfCancellationRequested();
            while (!closed && next < requests.Count && requests[next].Arrival <= now)
                Enqueue(waiting, requests[next++]);
            bool idle = running.Count == 0;
            for (int i = 0; i < waiting.Count && running.Count < MaxRunning;)
            {
                var r = waiting[i];
                if (running.Count > 0 && kvUsed + r.Input + r.Output > kvCapacity)
                    break; // in order: a later request does not pass one that waits for memory
                if (r.SentAtStepEnd && r.Arrival >= now && !idle)
                {
                    i++; // sent as this step starts: it joins the next one
                    continue;
                }
                waiting.RemoveAt(i);
                kvUsed += r.Input + r.Output;
                running.Add(r);
            }
            if (running.Count == 0)
            {
                if (closed || next >= requests.Count)
                    break; // cannot happen: a closed loop always has a request waiting here, an open one one still to come
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
            for (int c = 0; c < classCount; c++) // prompt chunks class by class, then oldest first
            {
                foreach (var r in running)
                {
                    if (r.Class != c || r.PrefillLeft == 0 || budget == 0)
                        continue;
                    int chunk = Math.Min(r.PrefillLeft, budget);
                    prefillContext += (r.Input - r.PrefillLeft + chunk / 2.0) * chunk;
                    r.PrefillLeft -= chunk;
                    budget -= chunk;
                    prefill += chunk;
                    prefillSequences++;
                    r.PrefillDone = r.PrefillLeft == 0;
                }
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
                    if (closed && next < requests.Count)
                    {
                        // Its client sends the next request now, as the step ends.
                        var sent = requests[next++];
                        sent.Arrival = now;
                        sent.SentAtStepEnd = true;
                        Enqueue(waiting, sent);
                    }
                }
            }
        }

        var ttft = requests.Select(r => r.FirstToken - r.Arrival).Order().ToArray();
        var tpot = requests.Where(r => r.Output > 1).Select(Tpot).Order().ToArray();
        double span = now - (w.OpenLoop ? requests[0].Arrival : 0);
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
            Classes = w.ClassShares is { Count: > 0 } ? [.. Enumerable.Range(0, w.ClassShares.Count).Select(c => ClassOf(requests, c, span))] : [],
        };
    }

    private static ClassLatency ClassOf(List<Request> requests, int c, double span)
    {
        var of = requests.Where(r => r.Class == c).ToList();
        var ttft = of.Select(r => r.FirstToken - r.Arrival).Order().ToArray();
        var tpot = of.Where(r => r.Output > 1).Select(Tpot).Order().ToArray();
        return new ClassLatency(of.Count, Percentile(ttft, 0.5), Percentile(ttft, 0.99), Percentile(tpot, 0.5), Percentile(tpot, 0.99), of.Sum(r => (long)r.Output) / span);
    }

    private static double Tpot(Request r) => (r.Finish - r.FirstToken) / (r.Output - 1);

    /// <summary>Into the waiting list behind every request of its class or a higher one (arrival order within a class).</summary>
    private static void Enqueue(List<Request> waiting, Request r)
    {
        int at = waiting.Count;
        while (at > 0 && waiting[at - 1].Class > r.Class)
            at--;
        waiting.Insert(at, r);
    }

    internal static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
