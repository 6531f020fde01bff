using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>A Mamba-2 mixer's tensors. The convolution is kept transposed (tap-major) so a tap is one vector over channels.</summary>
public sealed class MambaWeights
{
    public required WeightMatrix InProjection { get; init; }
    /// <summary>ConvKernel rows of ConvChannels floats: tap i of every channel (oldest input first).</summary>
    public required float[] ConvTaps { get; init; }
    public required float[] ConvBias { get; init; }
    public required float[] DtBias { get; init; }
    /// <summary>Per-head decay rate, negative (stored as -exp(A_log)).</summary>
    public required float[] A { get; init; }
    public required float[] D { get; init; }
    /// <summary>Gated RMSNorm weight over the inner dimension, applied per group.</summary>
    public required float[] Norm { get; init; }
    public required WeightMatrix OutProjection { get; init; }
}

/// <summary>A mixture-of-experts block: router, selection bias, per-expert up/down matrices (views into the stacks), shared expert.</summary>
public sealed class ExpertWeights
{
    public required WeightMatrix Router { get; init; }
    public float[]? SelectionBias { get; init; }
    /// <summary>Added to the router's logits before gating (gpt-oss).</summary>
    public float[]? RouterBias { get; init; }
    /// <summary>Per expert, biases of its gate, up and down outputs: expert x's are elements x·rows.. (gpt-oss).</summary>
    public float[]? GateBias { get; init; }
    public float[]? UpBias { get; init; }
    public float[]? DownBias { get; init; }
    /// <summary>SwiGLU experts' gate matrices (qwen3moe); null for squared-ReLU experts (Nemotron-H).</summary>
    public WeightMatrix[]? Gate { get; init; }
    public required WeightMatrix[] Up { get; init; }
    public required WeightMatrix[] Down { get; init; }
    public WeightMatrix? SharedUp { get; init; }
    public WeightMatrix? SharedDown { get; init; }
    /// <summary>A SwiGLU shared expert's gate matrix (qwen35moe); null for a squared-ReLU shared expert (Nemotron-H).</summary>
    public WeightMatrix? SharedGate { get; init; }
    /// <summary>gemma4: the router reads the RMS-normalised (unweighted) input × 1/√d × this, per channel.</summary>
    public float[]? RouterInputScale { get; init; }
    /// <summary>gemma4: per expert, a scale of its output (<c>ffn_down_exps.scale</c>).</summary>
    public float[]? DownScale { get; init; }
    /// <summary>Per-token scale of the shared expert's output, sigmoid(this · x) (qwen35moe's <c>ffn_gate_inp_shexp</c>).</summary>
    public float[]? SharedScale { get; init; }

    private int _segmentable; // 0: not decided yet, 1: yes, 2: no (an int, so threads that race to decide write whole values)

    /// <summary>
    /// Whether every expert matrix is of one repacked format and width per product, so a prompt step's expert products run as
    /// segmented runs (<see cref="Compute.MatMul.MultiplySegments"/>). Decided once: the matrices never change.
    /// </summary>
    internal bool Segmentable
    {
        get
        {
            if (_segmentable == 0)
            {
                bool can = Compute.MatMul.CanMultiplySegments(Up) && Compute.MatMul.CanMultiplySegments(Down)
                    && (Gate == null || (Compute.MatMul.CanMultiplySegments(Gate) && Compute.MatMul.CanMultiplySegments([Gate[0], Up[0]])));
                Volatile.Write(ref _segmentable, can ? 1 : 2);
            }
            return Volatile.Read(ref _segmentable) == 1;
        }
    }
}

public sealed partial class TransformerWeights
{
    /// <summary>Tensor names and shapes as llama.cpp's Nemotron-H loader expects them.</summary>
    private static LayerWeights LoadHybridLayer(GgufFile file, ModelConfig c, int l)
    {
        string p = $"blk.{l}.";
        int e = c.EmbeddingLength;
        var norm = Vector(file, p + "attn_norm.weight", e);
        switch (c.KindOf(l))
        {
            case LayerKind.Attention:
                return new LayerWeights
                {
                    Kind = LayerKind.Attention,
                    AttentionNorm = norm,
                    Query = Matrix(file, p + "attn_q.weight", e, c.QueryDimension),
                    Key = Matrix(file, p + "attn_k.weight", e, c.KvDimension),
                    Value = Matrix(file, p + "attn_v.weight", e, c.KvDimension),
                    Output = Matrix(file, p + "attn_output.weight", c.QueryDimension, e),
                    QueryBias = OptionalVector(file, p + "attn_q.bias", c.QueryDimension),
                    KeyBias = OptionalVector(file, p + "attn_k.bias", c.KvDimension),
                    ValueBias = OptionalVector(file, p + "attn_v.bias", c.KvDimension),
                };
            case LayerKind.Mamba:
                return new LayerWeights { Kind = LayerKind.Mamba, AttentionNorm = norm, Mamba = LoadMamba(file, c.Ssm!, e, p) };
            default:
                if (c.Moe != null)
                    return new LayerWeights { Kind = LayerKind.FeedForward, AttentionNorm = norm, Experts = LoadExperts(file, c.Moe, e, p) };
                var up = Matrix(file, p + "ffn_up.weight", e, null);
                return new LayerWeights
                {
                    Kind = LayerKind.FeedForward,
                    AttentionNorm = norm,
                    Up = up,
                    Down = Matrix(file, p + "ffn_down.weight", up.Rows, e),
                };
        }
    }

    private static MambaWeights LoadMamba(GgufFile file, SsmConfig s, int e, string p)
    {
        int channels = s.ConvChannels, k = s.ConvKernel;
        var taps = CausalConvolution.TapMajor(Vector(file, p + "ssm_conv1d.weight", k * channels), k, channels);
        return new MambaWeights
        {
            InProjection = Matrix(file, p + "ssm_in.weight", e, s.InProjection),
            ConvTaps = taps,
            ConvBias = OptionalVector(file, p + "ssm_conv1d.bias", channels) ?? new float[channels],
            DtBias = Vector(file, p + "ssm_dt.bias", s.HeadCount),
            A = Vector(file, p + "ssm_a", s.HeadCount),
            D = Vector(file, p + "ssm_d", s.HeadCount),
            Norm = Vector(file, p + "ssm_norm.weight", s.InnerSize),
            OutProjection = Matrix(file, p + "ssm_out.weight", s.InnerSize, e),
        };
    }

    internal static ExpertWeights LoadExperts(GgufFile file, MoeConfig moe, int e, string p)
    {
        int n = moe.ExpertCount, f = moe.ExpertFeedForwardLength;
        // Gate and up experts in one stack (Gemma 4's converter, or convert --fuse-gate-up-exps): expert x's rows are its gate's
        // f rows then its up's.
        bool fused = file.FindTensor(p + "ffn_gate_up_exps.weight") != null;
        if (fused && file.FindTensor(p + "ffn_gate_up_exps.bias") != null)
            throw new TokenFactoryException($"{file.Path}: '{p}ffn_gate_up_exps.bias' (biases on fused gate and up experts) is not supported.");
        var gateUp = fused ? Stack(file, p + "ffn_gate_up_exps.weight", e, 2 * f, n) : default;
        var up = fused ? default : Stack(file, p + "ffn_up_exps.weight", e, f, n);
        var down = Stack(file, p + "ffn_down_exps.weight", f, e, n);
        bool shared = file.FindTensor(p + "ffn_up_shexp.weight") != null;
        var gate = !fused && file.FindTensor(p + "ffn_gate_exps.weight") != null ? Stack(file, p + "ffn_gate_exps.weight", e, f, n) : (WeightMatrix?)null;
        WeightMatrix? sharedUp = shared ? Matrix(file, p + "ffn_up_shexp.weight", e, moe.SharedFeedForwardLength > 0 ? moe.SharedFeedForwardLength : null) : null;
        return new ExpertWeights
        {
            Router = Matrix(file, p + "ffn_gate_inp.weight", e, n),
            SelectionBias = OptionalVector(file, p + "exp_probs_b.bias", n),
            RouterBias = OptionalVector(file, p + "ffn_gate_inp.bias", n),
            GateBias = gate != null ? OptionalVector(file, p + "ffn_gate_exps.bias", n * f) : null,
            UpBias = OptionalVector(file, p + "ffn_up_exps.bias", n * f),
            DownBias = OptionalVector(file, p + "ffn_down_exps.bias", n * e),
            Gate = fused ? [.. Enumerable.Range(0, n).Select(x => gateUp.RowRange(2 * x * f, f))]
                : gate is { } g ? [.. Enumerable.Range(0, n).Select(x => g.RowRange(x * f, f))] : null,
            Up = fused ? [.. Enumerable.Range(0, n).Select(x => gateUp.RowRange(2 * x * f + f, f))] : [.. Enumerable.Range(0, n).Select(x => up.RowRange(x * f, f))],
            Down = Enumerable.Range(0, n).Select(x => down.RowRange(x * e, e)).ToArray(),
            SharedUp = sharedUp,
            SharedDown = shared ? Matrix(file, p + "ffn_down_shexp.weight", sharedUp!.Value.Rows, e) : null,
            SharedGate = shared && file.FindTensor(p + "ffn_gate_shexp.weight") != null ? Matrix(file, p + "ffn_gate_shexp.weight", e, sharedUp!.Value.Rows) : null,
            SharedScale = shared ? OptionalVector(file, p + "ffn_gate_inp_shexp.weight", e) : null,
            RouterInputScale = OptionalVector(file, p + "ffn_gate_inp.scale", e),
            DownScale = OptionalVector(file, p + "ffn_down_exps.scale", n),
        };
    }

    /// <summary>A [columns, rows, experts] stack as one matrix of experts × rows rows.</summary>
    private static WeightMatrix Stack(GgufFile file, string name, int columns, int rows, int experts)
    {
        var info = file.GetTensorInfo(name);
        if (info.Dimensions.Length != 3 || info.Dimensions[0] != columns || info.Dimensions[1] != rows || info.Dimensions[2] != experts)
            throw new GgufFormatException(file.Path, -1, $"tensor '{name}' has shape {info.ShapeText}; expected [{columns}, {rows}, {experts}]");
        RequireComputable(file, info);
        return new WeightMatrix(file, info, stacked: true);
    }
}
