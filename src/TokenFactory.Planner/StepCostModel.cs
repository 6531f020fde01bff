namespace TokenFactory.Planning;

/// <summary>
/// How long one engine step takes on a replica: a roofline — the larger of the FLOPs over the reachable compute rate and
/// the bytes read over the reachable bandwidth — plus tensor-parallel all-reduces and a fixed overhead. Bytes are the
/// weights the step's tokens touch (all dense weights, the experts they route to), every decoding sequence's KV cache,
/// and recurrent state read and written; FLOPs are 2 per weight per token (expert GEMMs at a lower efficiency) plus
/// attention over each token's context (at 8 or 16 bits whatever the weights).
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
        int tp = deployment.TensorParallel;
        double weights = _m.ParametersReadPerStep(tokens) * _bytesPerWeight;
        double cache = decodeSequences * _m.KvBytes(decodeContext, deployment.KvBytesPerElement)
            + prefillSequences * _m.KvBytes(prefillContext + 1, deployment.KvBytesPerElement);
        double state = (decodeSequences + prefillSequences) * _m.RecurrentStateBytes * 2;
        double memory = (weights + cache + state) / tp / _byteRate;

        double dense = 2 * (_m.ActiveParameters - _m.MoeLayers * _m.ExpertsPerToken * _m.ExpertParameters) * tokens;
        double experts = 2 * _m.MoeLayers * _m.ExpertsPerToken * _m.ExpertParameters * tokens;
        double attention = decodeSequences * _m.AttentionFlops(decodeContext) + prefillTokens * _m.AttentionFlops(prefillContext);
        double linear = (dense / _flopsRate + experts / (_flopsRate * _h.MoeEfficiency)) / tp;
        double overhead = AllReduceSeconds(tokens) + (_h.StepOverheadMs + _h.LayerOverheadMs * _m.Layers) / 1000;
        if (_h.CacheReadElementsPerSecond is double cacheRate)
        {
            // Attention as its own phase (a CPU engine): its FLOPs, plus reading each sequence's cache once per decoding token and
            // per 16-token block of a prompt chunk (the chunk's blocks see on average its middle position plus half a block).
            double perChunk = prefillSequences > 0 ? (double)prefillTokens / prefillSequences : 0;
            double blocks = prefillSequences * Math.Ceiling(perChunk / 16);
            double read = decodeSequences * _m.KvBytes(decodeContext + 1, 1) + blocks * _m.KvBytes(prefillContext + 8, 1);
            double weightsOnly = (weights + state) / tp / _byteRate;
            return Math.Max(linear, weightsOnly) + _h.UnoverlappedShare * Math.Min(linear, weightsOnly) + (attention / _attentionRate + read / cacheRate) / tp + overhead;
        }
        double compute = linear + attention / _attentionRate / tp;
        return Math.Max(compute, memory) + overhead;
    }

    /// <summary>Two ring all-reduces of the activations per layer across the tensor-parallel group.</summary>
    private double AllReduceSeconds(int tokens)
    {
        int tp = deployment.TensorParallel;
        if (tp <= 1 || _h.LinkGbps <= 0)
            return 0;
        double bytes = tokens * (double)_m.Hidden * 2;
        double perCall = 2.0 * (tp - 1) / tp * bytes / (_h.LinkGbps / 2 * 1e9 * _h.LinkEfficiency) + _h.LinkLatencyUs * 1e-6;
        return 2 * _m.Layers * perCall;
    }
}
