namespace TokenFactory.Planning;

/// <summary>
/// How long one engine step takes on a replica: a roofline — the larger of the FLOPs over the reachable compute rate and
/// the bytes read over the reachable bandwidth, per device — plus tensor-parallel all-reduces, expert-parallel token
/// exchanges and a fixed overhead. Bytes are the
/// weights the step's tokens touch (all dense weights, the experts they route to), every decoding sequence's KV cache,
/// and recurrent state read and written; FLOPs are 2 per weight per token (expert GEMMs at a lower efficiency; the output
/// head only per row that gives logits) plus attention over each token's context (at 8 or 16 bits whatever the weights).
/// Where the hardware has a rate for the rest of a token's work (<see cref="HardwareProfile.ElementsPerSecond"/>, a CPU), that
/// work is added to the products' time, on the compute side of the roofline (it overlaps the weight reads as they do).
/// </summary>
public sealed class StepCostModel(Deployment deployment)
{
    private readonly ModelProfile _m = deployment.Model;
    private readonly HardwareProfile _h = deployment.Hardware;
    private readonly double _bytesPerWeight = deployment.Precision.BytesPerWeight();
    private readonly double _flopsRate = deployment.Hardware.EffectiveFlops(deployment.Precision);
    // Attention runs at 16 bits, or 8 where the weights are 8 bits or fewer (FP8 attention kernels), never at FP4.
    private readonly double _attentionRate = deployment.Hardware.AttentionTflops is double measured ? measured * 1e12
        : deployment.Hardware.EffectiveFlops(deployment.Precision is Precision.FP8 or Precision.FP4 ? Precision.FP8 : Precision.BF16);
    private readonly double _byteRate = deployment.Hardware.BandwidthBytesPerSecond * deployment.Hardware.MemoryEfficiency;

    public Deployment Deployment => deployment;

    /// <summary>The products' rate, FLOP/s, multiplying <paramref name="rows"/> activation rows at once: as probed, where it was (a CPU).</summary>
    private double FlopsRate(double rows) => _h.ProductRates is { } probed ? probed.Tflops(rows) * 1e12 : _flopsRate;

    /// <param name="decodeSequences">Sequences generating one token each.</param>
    /// <param name="decodeContext">Their mean context (tokens already cached).</param>
    /// <param name="prefillTokens">Prompt tokens computed in this step (chunks of any number of sequences).</param>
    /// <param name="prefillSequences">How many sequences those chunks belong to.</param>
    /// <param name="prefillContext">The chunks' mean position (the context each prompt token attends to).</param>
    public double Seconds(int decodeSequences, double decodeContext, int prefillTokens, int prefillSequences, double prefillContext)
    {
        int tokens = decodeSequences + prefillTokens;
        if (tokens == 0)
            return 0;
        // Each attention group (TensorParallel devices) reads its own copy of the dense weights; the experts the step's
        // tokens touch, the caches and the states are spread over all the replica's devices.
        int tp = deployment.TensorParallel, devices = deployment.Devices;
        double dense = _m.DenseParameters * _bytesPerWeight;
        double routed = _m.ExpertParametersReadPerStep(tokens) * _bytesPerWeight;
        double cache = decodeSequences * _m.KvBytes(decodeContext, deployment.KvBytesPerElement)
            + prefillSequences * _m.KvBytes(prefillContext + 1, deployment.KvBytesPerElement);
        double state = (decodeSequences + prefillSequences) * _m.RecurrentStateBytes * 2;
        double memory = (dense / tp + (routed + cache + state) / devices) / _byteRate;

        // The output head only for the rows that give logits: every decoding sequence, and a prompt chunk's last token
        // (counted for every chunk: a long prompt's earlier chunks give none, a small overcount). Each product at the rate of
        // the rows it multiplies at once: the step's tokens; the logit rows; each expert the step uses, the tokens routed to it.
        int logitRows = decodeSequences + prefillSequences;
        double bodyFlops = 2 * _m.BodyParameters * tokens, headFlops = 2 * _m.OutputHeadParameters * logitRows;
        // Without probed rates one rate for all (the same arithmetic as before there were rates, to the last bit).
        double bodySeconds = _h.ProductRates is null ? (bodyFlops + headFlops) / _flopsRate : bodyFlops / FlopsRate(tokens) + headFlops / FlopsRate(logitRows);
        double expertFlops = 2 * _m.MoeLayers * _m.ExpertsPerToken * _m.ExpertParameters * tokens;
        double expertRows = _m.IsMoe ? tokens * _m.ExpertsPerToken / _m.ExpertsTouched(tokens) : 1;
        double linear = (bodySeconds + expertFlops / (FlopsRate(expertRows) * _h.MoeEfficiency)) / devices;
        double attention = decodeSequences * _m.AttentionFlops(decodeContext) + prefillTokens * _m.AttentionFlops(prefillContext);
        if (_h.ElementsPerSecond is double elementRate)
            linear += tokens * _m.ActivationElementsPerToken / elementRate / devices;
        double overhead = AllReduceSeconds(tokens) + AllToAllSeconds(tokens) + (_h.StepOverheadMs + _h.LayerOverheadMs * _m.Layers) / 1000;
        if (_h.CacheReadElementsPerSecond is double cacheRate)
        {
            // Attention as its own phase (a CPU engine): its FLOPs, plus reading each sequence's cache once per decoding token and
            // per 16-token block of a prompt chunk (the chunk's blocks see on average its middle position plus half a block).
            double perChunk = prefillSequences > 0 ? (double)prefillTokens / prefillSequences : 0;
            double blocks = prefillSequences * Math.Ceiling(perChunk / 16);
            double read = decodeSequences * _m.KvBytes(decodeContext + 1, 1) + blocks * _m.KvBytes(prefillContext + 8, 1);
            double weightsOnly = (dense / tp + (routed + state) / devices) / _byteRate;
            return Math.Max(linear, weightsOnly) + _h.UnoverlappedShare * Math.Min(linear, weightsOnly) + (attention / _attentionRate + read / cacheRate) / devices + overhead;
        }
        double compute = linear + attention / _attentionRate / devices;
        return Math.Max(compute, memory) + overhead;
    }

    /// <summary>
    /// Ring all-reduces of the activations across each tensor-parallel group: two per layer, or with expert parallelism one
    /// per layer and a second only in the dense feed-forward layers (a mixture layer exchanges tokens instead). Each group
    /// carries its share of the step's tokens.
    /// </summary>
    private double AllReduceSeconds(int tokens)
    {
        int tp = deployment.TensorParallel, ep = deployment.ExpertParallel;
        if (tp <= 1 || _h.LinkGbps <= 0)
            return 0;
        double bytes = (double)tokens / ep * _m.Hidden * 2;
        double perCall = 2.0 * (tp - 1) / tp * bytes / (_h.LinkGbps / 2 * 1e9 * _h.LinkEfficiency) + _h.LinkLatencyUs * 1e-6;
        int calls = ep > 1 ? 2 * _m.Layers - _m.MoeLayers : 2 * _m.Layers;
        return calls * perCall;
    }

    /// <summary>
    /// Expert parallelism's token exchange in every mixture layer: each device sends its share of the step's tokens (16-bit
    /// activations) to the devices of their chosen experts and takes the results back; a share (devices − 1)/devices of the
    /// choices is on another device. Two exchanges per layer, each paying the link latency.
    /// </summary>
    private double AllToAllSeconds(int tokens)
    {
        int devices = deployment.Devices;
        if (deployment.ExpertParallel <= 1 || devices <= 1 || _m.MoeLayers == 0)
            return 0;
        if (_h.LinkGbps <= 0)
            return double.PositiveInfinity; // no interconnect: expert parallelism is not an option
        double bytes = (double)tokens / devices * _m.ExpertsPerToken * _m.Hidden * 2 * (devices - 1) / devices;
        double perExchange = bytes / (_h.LinkGbps / 2 * 1e9 * _h.LinkEfficiency) + _h.LinkLatencyUs * 1e-6;
        return 2 * _m.MoeLayers * perExchange;
    }
}
