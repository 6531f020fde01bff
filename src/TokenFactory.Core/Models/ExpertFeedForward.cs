using System.Numerics.Tensors;
using TokenFactory.Compute;

namespace TokenFactory.Models;

/// <summary>
/// Feed-forward blocks of hybrid models — the dense squared-ReLU MLP (down(relu(up·x)²)) — and mixtures of
/// experts, squared-ReLU (Nemotron-H), SwiGLU (qwen3moe) or clamped SwiGLU with biases (gpt-oss). For experts, each token's router logits
/// (plus the router's bias, gpt-oss) become probabilities (sigmoid or softmax as the metadata says; gpt-oss: the raw logits, its
/// softmax taken over the chosen k only); the top-k experts are chosen on probability + selection bias, their unbiased
/// probabilities are the weights (normalised to sum 1 and scaled when the metadata says so). Each expert
/// then runs once over just the tokens routed to it (gathered into consecutive rows, one matrix product
/// per expert matrix), and a token's result is its experts' outputs, weighted, summed in rank order,
/// plus the shared expert's.
/// </summary>
internal sealed class ExpertFeedForward
{
    private readonly MoeConfig? _moe;
    private readonly int _e;
    private readonly float[] _hidden, _shared, _gateHidden;
    private readonly float[] _logits = [], _weights = [], _gathered = [], _expertOut = [], _routed = [];
    private readonly int[] _selected = [], _counts = [], _cursor = [], _order = [];
    // One-token steps: every chosen expert's products in two parallel runs (MatMul.MultiplyParts).
    private readonly WeightMatrix[] _partWeights = [];
    private readonly int[] _partRows = [], _partOffsets = [];
    private readonly float[] _partHidden = [];
    // Prompt steps: the experts' rows in 8-aligned segments of _gathered, at most _segmentRows rows a run (MatMul.MultiplySegments).
    private readonly int _segmentRows;
    private readonly WeightMatrix[] _segmentWeights = [];
    private readonly float[][] _segmentOutputs = [];
    private readonly int[] _segmentStarts = [], _segmentCounts = [], _segmentExperts = [];

    public ExpertFeedForward(ModelConfig c, int maxTokens)
    {
        _e = c.EmbeddingLength;
        _moe = c.Moe;
        int hidden = c.FeedForwardLength;
        if (_moe != null)
        {
            int k = _moe.UsedCount;
            hidden = Math.Max(_moe.ExpertFeedForwardLength, _moe.SharedFeedForwardLength);
            _logits = new float[maxTokens * _moe.ExpertCount];
            _selected = new int[maxTokens * k];
            _weights = new float[maxTokens * k];
            _counts = new int[_moe.ExpertCount + 1];
            _cursor = new int[_moe.ExpertCount];
            _order = new int[maxTokens * k];
            _segmentRows = (Math.Max(maxTokens, 1) + 7) & ~7;
            _gathered = new float[_segmentRows * _e];
            _routed = new float[Math.Max(_segmentRows, k) * _e]; // a one-token step's k expert outputs too
            _expertOut = new float[maxTokens * k * _e];
            int parts = Math.Min(MatMul.MaxParts, 2 * k);
            _partWeights = new WeightMatrix[parts];
            _partRows = new int[parts];
            _partOffsets = new int[parts];
            _partHidden = new float[2 * k * _moe.ExpertFeedForwardLength];
            _segmentWeights = new WeightMatrix[2 * _moe.ExpertCount];
            _segmentOutputs = new float[2 * _moe.ExpertCount][];
            _segmentStarts = new int[2 * _moe.ExpertCount];
            _segmentCounts = new int[2 * _moe.ExpertCount];
            _segmentExperts = new int[_moe.ExpertCount];
        }
        int hiddenRows = Math.Max(maxTokens, _segmentRows);
        _hidden = new float[hiddenRows * hidden];
        _gateHidden = c.Moe != null && !c.IsNemotronH ? new float[hiddenRows * hidden] : []; // SwiGLU experts (qwen3moe, qwen35moe)
        _shared = new float[maxTokens * _e];
    }

    /// <summary>output = down(relu(up · input)²) for <paramref name="n"/> rows (output may be input).</summary>
    public void Dense(MatMul matmul, in WeightMatrix up, in WeightMatrix down, float[] input, int n, float[] output)
    {
        matmul.Multiply(up, input, 0, n, _hidden, 0);
        ReluSquared(_hidden.AsSpan(0, n * up.Rows));
        matmul.Multiply(down, _hidden, 0, n, output, 0);
    }

    /// <summary>
    /// output = down(silu(gate · input) ⊙ (up · input)): a SwiGLU expert (qwen3moe); gpt-oss's adds expert <paramref name="x"/>'s
    /// biases to each product and uses the clamped activation.
    /// </summary>
    private void SwiGlu(MatMul matmul, ExpertWeights w, int x, float[] input, int n, float[] output)
    {
        var gate = w.Gate![x];
        int f = gate.Rows, e = _e;
        matmul.MultiplyShared([gate, w.Up[x]], input, n, [_gateHidden, _hidden]);
        Activate(w, x, _gateHidden.AsSpan(0, n * f), _hidden.AsSpan(0, n * f));
        matmul.Multiply(w.Down[x], _gateHidden, 0, n, output, 0);
        if (w.DownBias != null)
            FusedOps.AddToRows(output.AsSpan(0, n * e), w.DownBias.AsSpan(x * e, e));
    }

    /// <summary>Expert <paramref name="x"/>'s gated activation over rows of its gate and up products: biases (gpt-oss), then SiLU or the clamped form.</summary>
    private void Activate(ExpertWeights w, int x, Span<float> gate, Span<float> up)
    {
        int f = _moe!.ExpertFeedForwardLength;
        if (w.GateBias != null)
            FusedOps.AddToRows(gate, w.GateBias.AsSpan(x * f, f));
        if (w.UpBias != null)
            FusedOps.AddToRows(up, w.UpBias.AsSpan(x * f, f));
        if (_moe.ClampedSwiGlu)
            FusedOps.ClampedSwiGluMultiply(gate, up);
        else if (_moe.GeluExperts)
            FusedOps.GeluHalfTableMultiply(gate, up);
        else
            FusedOps.SiluMultiply(gate, up);
    }

    /// <param name="routerInput">What the router reads when it is not the experts' input (gemma4); null: <paramref name="input"/>.</param>
    public void Experts(MatMul matmul, ExpertWeights w, float[] input, int n, float[] output, float[]? routerInput = null)
    {
        var moe = _moe!;
        int k = moe.UsedCount, experts = moe.ExpertCount, e = _e;
        matmul.Multiply(w.Router, routerInput ?? input, 0, n, _logits, 0);
        if (w.RouterBias != null)
            FusedOps.AddToRows(_logits.AsSpan(0, n * experts), w.RouterBias);
        for (int t = 0; t < n; t++)
            Route(w, _logits.AsSpan(t * experts, experts), _selected.AsSpan(t * k, k), _weights.AsSpan(t * k, k));
        if (n == 1 && OneToken(matmul, w, input))
        {
            Sum(w, input, 1, output, matmul);
            return;
        }

        // Counting sort of (token, rank) pairs by expert, so each expert sees its tokens as consecutive rows.
        Array.Clear(_counts);
        for (int i = 0; i < n * k; i++)
            _counts[_selected[i] + 1]++;
        for (int x = 0; x < experts; x++)
            _counts[x + 1] += _counts[x];
        _counts.AsSpan(0, experts).CopyTo(_cursor);
        for (int i = 0; i < n * k; i++)
            _order[_cursor[_selected[i]]++] = i;
        if (w.Segmentable)
        {
            for (int x = 0; x < experts;)
                x = RunSegments(matmul, w, input, x);
            Sum(w, input, n, output, matmul);
            return;
        }

        for (int x = 0; x < experts; x++)
        {
            int first = _counts[x], count = _counts[x + 1] - first;
            if (count == 0)
                continue;
            for (int j = 0; j < count; j++)
                input.AsSpan(_order[first + j] / k * e, e).CopyTo(_gathered.AsSpan(j * e, e));
            if (w.Gate != null)
                SwiGlu(matmul, w, x, _gathered, count, _routed);
            else
                Dense(matmul, w.Up[x], w.Down[x], _gathered, count, _routed);
            if (w.DownScale != null)
                TensorPrimitives.Multiply(_routed.AsSpan(0, count * e), w.DownScale[x], _routed.AsSpan(0, count * e));
            for (int j = 0; j < count; j++)
            {
                int pair = _order[first + j];
                TensorPrimitives.Multiply(_routed.AsSpan(j * e, e), _weights[pair], _expertOut.AsSpan(pair * e, e));
            }
        }

        Sum(w, input, n, output, matmul);
    }

    /// <summary>
    /// The experts from <paramref name="from"/> on whose rows fit one run: each expert's tokens gathered into rows starting at a
    /// multiple of 8 (zero rows between: they are quantized with the rest), every expert's gate and up (or up) products in one <see cref="MatMul.MultiplySegments"/>
    /// run, the activations, then every down product in another. Results have the bits the per-expert products give.
    /// Returns the first expert not done.
    /// </summary>
    private int RunSegments(MatMul matmul, ExpertWeights w, float[] input, int from)
    {
        var moe = _moe!;
        int k = moe.UsedCount, experts = moe.ExpertCount, e = _e, f = moe.ExpertFeedForwardLength;
        int m = 0, rows = 0, x = from;
        for (; x < experts; x++)
        {
            int count = _counts[x + 1] - _counts[x];
            if (count == 0)
                continue;
            int span = (count + 7) & ~7;
            if (rows + span > _segmentRows)
                break; // one expert alone always fits: it has at most maxTokens rows
            _segmentExperts[m] = x;
            _segmentStarts[m] = rows;
            _segmentCounts[m] = count;
            for (int j = 0; j < count; j++)
                input.AsSpan(_order[_counts[x] + j] / k * e, e).CopyTo(_gathered.AsSpan((rows + j) * e, e));
            _gathered.AsSpan((rows + count) * e, (span - count) * e).Clear();
            rows += span;
            m++;
        }
        if (m == 0)
        {
            if (x < experts) // cannot happen: an expert has at most maxTokens rows, and the runs hold that many
                throw new InvalidOperationException($"Expert {x}'s {_counts[x + 1] - _counts[x]} tokens exceed the {_segmentRows} rows of a segmented run.");
            return x;
        }

        bool gated = w.Gate != null;
        for (int s = 0; s < m; s++)
        {
            int expert = _segmentExperts[s];
            _segmentWeights[s] = gated ? w.Gate![expert] : w.Up[expert];
            _segmentOutputs[s] = gated ? _gateHidden : _hidden;
            if (!gated)
                continue;
            _segmentWeights[m + s] = w.Up[expert];
            _segmentOutputs[m + s] = _hidden;
            _segmentStarts[m + s] = _segmentStarts[s];
            _segmentCounts[m + s] = _segmentCounts[s];
        }
        int parts = gated ? 2 * m : m;
        matmul.MultiplySegments(_segmentWeights.AsSpan(0, parts), _gathered, rows, _segmentStarts.AsSpan(0, parts), _segmentCounts.AsSpan(0, parts),
            _segmentOutputs.AsSpan(0, parts));

        var activated = gated ? _gateHidden : _hidden;
        for (int s = 0; s < m; s++)
        {
            int start = _segmentStarts[s], count = _segmentCounts[s], span = (count + 7) & ~7;
            if (gated)
                Activate(w, _segmentExperts[s], _gateHidden.AsSpan(start * f, count * f), _hidden.AsSpan(start * f, count * f));
            else
                ReluSquared(_hidden.AsSpan(start * f, count * f));
            activated.AsSpan((start + count) * f, (span - count) * f).Clear(); // the rows between segments: quantized with the rest
            _segmentWeights[s] = w.Down[_segmentExperts[s]];
            _segmentOutputs[s] = _routed;
        }
        matmul.MultiplySegments(_segmentWeights.AsSpan(0, m), activated, rows, _segmentStarts.AsSpan(0, m), _segmentCounts.AsSpan(0, m),
            _segmentOutputs.AsSpan(0, m));

        for (int s = 0; s < m; s++)
        {
            int expert = _segmentExperts[s], start = _segmentStarts[s], count = _segmentCounts[s], first = _counts[expert];
            var routed = _routed.AsSpan(start * e, count * e);
            if (w.DownBias != null)
                FusedOps.AddToRows(routed, w.DownBias.AsSpan(expert * e, e));
            if (w.DownScale != null)
                TensorPrimitives.Multiply(routed, w.DownScale[expert], routed);
            for (int j = 0; j < count; j++)
            {
                int pair = _order[first + j];
                TensorPrimitives.Multiply(_routed.AsSpan((start + j) * e, e), _weights[pair], _expertOut.AsSpan(pair * e, e));
            }
        }
        _segmentOutputs.AsSpan(0, parts).Clear();
        return x;
    }

    /// <summary>Each token's experts' weighted outputs summed in rank order, plus the shared expert's.</summary>
    private void Sum(ExpertWeights w, float[] input, int n, float[] output, MatMul matmul)
    {
        int k = _moe!.UsedCount, e = _e;
        if (w.SharedUp is { } sharedUp)
        {
            if (w.SharedGate is { } sharedGate)
                SharedSwiGlu(matmul, w, sharedGate, sharedUp, input, n);
            else
                Dense(matmul, sharedUp, w.SharedDown!.Value, input, n, _shared);
        }
        for (int t = 0; t < n; t++)
        {
            var sum = output.AsSpan(t * e, e);
            _expertOut.AsSpan(t * k * e, e).CopyTo(sum);
            for (int r = 1; r < k; r++)
                TensorPrimitives.Add(sum, _expertOut.AsSpan((t * k + r) * e, e), sum);
            if (w.SharedUp != null)
                TensorPrimitives.Add(sum, _shared.AsSpan(t * e, e), sum);
        }
    }

    /// <summary>
    /// qwen35moe's shared expert: down(silu(gate · x) ⊙ (up · x)), each token's row scaled by σ(<see cref="ExpertWeights.SharedScale"/> · x).
    /// </summary>
    private void SharedSwiGlu(MatMul matmul, ExpertWeights w, in WeightMatrix gate, in WeightMatrix up, float[] input, int n)
    {
        int f = gate.Rows, e = _e;
        matmul.MultiplyShared([gate, up], input, n, [_gateHidden, _hidden]);
        FusedOps.SiluMultiply(_gateHidden.AsSpan(0, n * f), _hidden.AsSpan(0, n * f));
        matmul.Multiply(w.SharedDown!.Value, _gateHidden, 0, n, _shared, 0);
        if (w.SharedScale is not { } scale)
            return;
        for (int t = 0; t < n; t++)
        {
            float logit = TensorPrimitives.Dot(scale.AsSpan(), input.AsSpan(t * e, e));
            TensorPrimitives.Multiply(_shared.AsSpan(t * e, e), 1f / (1f + MathF.Exp(-logit)), _shared.AsSpan(t * e, e));
        }
    }

    /// <summary>
    /// A one-token step (a single sequence decoding): the chosen experts all take the same row, so every expert's gate and up
    /// (or up) products run as one <see cref="MatMul.MultiplyParts"/> call and every down product as another, instead of two
    /// parallel runs per expert; each product has the bits its own call gives. False when the matrices are not of one repacked
    /// format (the caller takes the general path).
    /// </summary>
    private bool OneToken(MatMul matmul, ExpertWeights w, float[] input)
    {
        int k = _moe!.UsedCount, f = _moe.ExpertFeedForwardLength, e = _e;
        bool gated = w.Gate != null;
        int parts = gated ? 2 * k : k;
        if (parts > _partWeights.Length)
            return false;
        // Expert r's gate (or up, ungated) product goes to row r, its up product to row k + r: the hidden rows the down
        // products read are then rows 0..k-1, and only those are quantized for them.
        for (int r = 0; r < k; r++)
        {
            int x = _selected[r];
            _partWeights[r] = gated ? w.Gate![x] : w.Up[x];
            if (gated)
                _partWeights[k + r] = w.Up[x];
        }
        for (int i = 0; i < parts; i++)
        {
            _partRows[i] = 0;
            _partOffsets[i] = i * f;
        }
        if (!matmul.MultiplyParts(_partWeights.AsSpan(0, parts), input, 1, _partRows.AsSpan(0, parts), _partHidden, _partOffsets.AsSpan(0, parts)))
            return false;
        for (int r = 0; r < k; r++)
        {
            var hidden = _partHidden.AsSpan(r * f, f);
            if (gated)
                Activate(w, _selected[r], hidden, _partHidden.AsSpan((k + r) * f, f));
            else
                ReluSquared(hidden);
        }
        for (int r = 0; r < k; r++)
        {
            _partWeights[r] = w.Down[_selected[r]];
            _partRows[r] = r;
            _partOffsets[r] = r * e;
        }
        if (!matmul.MultiplyParts(_partWeights.AsSpan(0, k), _partHidden, k, _partRows.AsSpan(0, k), _routed, _partOffsets.AsSpan(0, k)))
        {
            for (int r = 0; r < k; r++)
                matmul.Multiply(w.Down[_selected[r]], _partHidden, r * f, 1, _routed, r * e);
        }
        for (int r = 0; r < k; r++)
        {
            var routed = _routed.AsSpan(r * e, e);
            if (w.DownBias != null)
                FusedOps.AddToRows(routed, w.DownBias.AsSpan(_selected[r] * e, e));
            if (w.DownScale != null)
                TensorPrimitives.Multiply(routed, w.DownScale[_selected[r]], routed);
            TensorPrimitives.Multiply(routed, _weights[r], _expertOut.AsSpan(r * e, e));
        }
        return true;
    }

    private void Route(ExpertWeights w, Span<float> logits, Span<int> selected, Span<float> weights) =>
        Route(_moe!, w.SelectionBias, logits, selected, weights);

    /// <summary>
    /// Top-k experts of one token, best first, and their weights. <paramref name="logits"/> becomes the
    /// probabilities (sigmoid or softmax); selection ranks probability + bias, the weights are the unbiased
    /// probabilities, normalised to sum 1 (the sum clamped below at F16's smallest normal, as llama.cpp) and scaled.
    /// </summary>
    internal static void Route(MoeConfig moe, ReadOnlySpan<float> bias, Span<float> logits, Span<int> selected, Span<float> weights)
    {
        if (moe.Gating == ExpertGating.Sigmoid)
        {
            for (int i = 0; i < logits.Length; i++)
                logits[i] = 1f / (1f + MathF.Exp(-logits[i]));
        }
        else if (moe.Gating == ExpertGating.Softmax)
        {
            float max = TensorPrimitives.Max(logits);
            double total = 0;
            for (int i = 0; i < logits.Length; i++)
                total += logits[i] = MathF.Exp(logits[i] - max);
            float inverse = (float)(1.0 / total);
            TensorPrimitives.Multiply(logits, inverse, logits);
        }
        for (int r = 0; r < selected.Length; r++)
        {
            int best = -1;
            float bestScore = float.NegativeInfinity;
            for (int i = 0; i < logits.Length; i++)
            {
                float score = bias.IsEmpty ? logits[i] : logits[i] + bias[i];
                if ((best < 0 || score > bestScore) && selected[..r].IndexOf(i) < 0)
                {
                    best = i;
                    bestScore = score;
                }
            }
            selected[r] = best;
            weights[r] = logits[best];
        }
        if (moe.Gating == ExpertGating.SoftmaxOfTopK)
            Softmax(weights);
        if (moe.NormalizeWeights)
        {
            float sum = 0;
            foreach (float x in weights)
                sum += x;
            sum = Math.Max(sum, 6.103515625e-5f);
            for (int r = 0; r < weights.Length; r++)
                weights[r] /= sum;
        }
        if (moe.WeightsScale != 0f && moe.WeightsScale != 1f)
        {
            for (int r = 0; r < weights.Length; r++)
                weights[r] *= moe.WeightsScale;
        }
    }

    /// <summary>In place, the chosen experts' logits become their softmax (summed in double, as ggml does).</summary>
    private static void Softmax(Span<float> x)
    {
        float max = TensorPrimitives.Max(x);
        double total = 0;
        for (int i = 0; i < x.Length; i++)
            total += x[i] = MathF.Exp(x[i] - max);
        TensorPrimitives.Multiply(x, (float)(1.0 / total), x);
    }

    /// <summary>max(x, 0)² in place (vectorised: on a prompt step it runs over every expert's hidden rows). NaN stays NaN.</summary>
    internal static void ReluSquared(Span<float> x)
    {
        TensorPrimitives.Max(x, 0f, x);
        TensorPrimitives.Multiply(x, x, x);
    }
}
