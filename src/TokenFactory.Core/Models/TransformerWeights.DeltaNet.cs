using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>A gated DeltaNet mixer's tensors (qwen35), named and shaped as llama.cpp's converter writes them.</summary>
public sealed class DeltaNetWeights
{
    /// <summary>Input → queries, keys and values (the convolution's channels, in that order).</summary>
    public required WeightMatrix QkvProjection { get; init; }
    /// <summary>Input → the output gate z (one value-head-sized gate per value head).</summary>
    public required WeightMatrix GateProjection { get; init; }
    /// <summary>Input → per value head, the write strength's logit (β = σ(·)).</summary>
    public required WeightMatrix BetaProjection { get; init; }
    /// <summary>Input → per value head, the decay's logit (g = softplus(· + DtBias) · A).</summary>
    public required WeightMatrix AlphaProjection { get; init; }
    /// <summary>ConvKernel rows of ConvChannels floats: tap i of every channel (oldest input first). No bias.</summary>
    public required float[] ConvTaps { get; init; }
    public required float[] DtBias { get; init; }
    /// <summary>Per value head, the decay rate, negative (stored as -exp(A_log)).</summary>
    public required float[] A { get; init; }
    /// <summary>RMSNorm weight over one value head, shared by the heads.</summary>
    public required float[] Norm { get; init; }
    public required WeightMatrix OutProjection { get; init; }
}

public sealed partial class TransformerWeights
{
    private static DeltaNetWeights LoadDeltaNet(GgufFile file, SsmConfig s, int e, string p)
    {
        int channels = s.ConvChannels, k = s.ConvKernel;
        return new DeltaNetWeights
        {
            QkvProjection = Matrix(file, p + "attn_qkv.weight", e, channels),
            GateProjection = Matrix(file, p + "attn_gate.weight", e, s.InnerSize),
            BetaProjection = Matrix(file, p + "ssm_beta.weight", e, s.HeadCount),
            AlphaProjection = Matrix(file, p + "ssm_alpha.weight", e, s.HeadCount),
            ConvTaps = CausalConvolution.TapMajor(Vector(file, p + "ssm_conv1d.weight", k * channels), k, channels),
            DtBias = Vector(file, p + "ssm_dt.bias", s.HeadCount),
            A = Vector(file, p + "ssm_a", s.HeadCount),
            Norm = Vector(file, p + "ssm_norm.weight", s.HeadDim),
            OutProjection = Matrix(file, p + "ssm_out.weight", s.InnerSize, e),
        };
    }
}
