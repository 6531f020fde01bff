using System.Numerics.Tensors;

namespace TokenFactory.Engine;

/// <summary>
/// Picks tokens from logits: logit biases, penalties, then top-k, top-p, min-p, temperature, then a draw —
/// the order llama.cpp's default chain uses. Buffers are sized to the vocabulary once, so sampling a
/// token allocates nothing. Not thread-safe: one sampler per sequence.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingParameters _p;
    private readonly float[] _logits;
    private readonly int[] _ids;
    private readonly float[] _keys;
    private readonly Dictionary<int, int> _counts = [];
    private readonly Queue<int> _window = new();
    private readonly bool _penalize, _adjust;
    private readonly int[] _biasIds;
    private readonly float[] _biasValues;
    private Random _random;

    /// <param name="parameters">Already validated (<see cref="GenerationRequest.Validate"/>).</param>
    public Sampler(SamplingParameters parameters, int vocabSize)
    {
        _p = parameters;
        _penalize = parameters.HasPenalties;
        _adjust = parameters.AdjustsLogits;
        // Arrays, not the dictionary: enumerating it per token would allocate an enumerator on every sample.
        var bias = parameters.LogitBias?.OrderBy(b => b.Key).ToArray() ?? [];
        _biasIds = [.. bias.Select(b => b.Key)];
        _biasValues = [.. bias.Select(b => b.Value)];
        _logits = new float[vocabSize];
        _ids = new int[vocabSize];
        _keys = new float[vocabSize];
        _random = new Random(SeedOf(parameters.Seed ?? (ulong)Random.Shared.NextInt64()));
    }

    public SamplingParameters Parameters => _p;

    /// <summary>Records a token (prompt or generated) for the penalty window.</summary>
    public void Accept(int token)
    {
        // Without penalties the window would only be bookkeeping nobody reads.
        if (_p.PenaltyWindow == 0 || !_penalize)
            return;
        _window.Enqueue(token);
        _counts[token] = _counts.GetValueOrDefault(token) + 1;
        if (_window.Count > _p.PenaltyWindow)
        {
            int old = _window.Dequeue();
            if (--_counts[old] == 0)
                _counts.Remove(old);
        }
    }

    public void Reset(ulong? seed = null)
    {
        _window.Clear();
        _counts.Clear();
        if (seed != null)
            _random = new Random(SeedOf(seed.Value));
    }

    /// <summary>
    /// <see cref="Random"/>'s seed for a request's 64-bit one: all 64 bits mixed (SplitMix64's finaliser) into a
    /// non-negative int. Folding the halves together (lo ^ hi) gave the seeds -1 and 0 of one request's two choices (n = 2)
    /// the same stream, and <see cref="Random"/> takes a negative seed's absolute value, so -k and k - 1 drew alike.
    /// </summary>
    internal static int SeedOf(ulong seed)
    {
        ulong z = unchecked(seed + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (int)(z >> 33);
    }

    public int Sample(ReadOnlySpan<float> logits)
    {
        // Greedy without penalties reads the logits as they are: no copy of the vocabulary-wide row per token.
        if (_p.IsGreedy && !_adjust)
            return ArgMax(logits);
        var l = _logits.AsSpan(0, logits.Length);
        logits.CopyTo(l);
        // Biases first, then penalties: llama.cpp's sampler chain's order.
        for (int i = 0; i < _biasIds.Length; i++)
        {
            if ((uint)_biasIds[i] < (uint)l.Length)
                l[_biasIds[i]] += _biasValues[i];
        }
        ApplyPenalties(l);
        if (_p.IsGreedy)
            return ArgMax(l);
        // A NaN (or +∞) logit would poison every probability below; one vectorized pass finds the rare row that has one.
        float top = TensorPrimitives.Max(l);
        if (!float.IsFinite(top))
            top = Sanitize(l);

        // Candidates sorted by logit, descending; n shrinks as filters cut the tail. Sorting the whole
        // vocabulary costs ~1-2 ms per token at 150k entries, so only the candidates a filter can keep
        // are sorted: the top k by a heap pass, or those within 30 nats of the best (e^-30 of its
        // probability cannot change a nucleus or a min-p cut), or none when no filter is set.
        int n = GatherCandidates(l, top);
        // Probabilities at temperature 1 decide top-p and min-p, as llama.cpp applies them before temperature.
        float max = -_keys[0];
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += Math.Exp(-_keys[i] - max);
        if (_p.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < n; i++)
            {
                cumulative += Math.Exp(-_keys[i] - max) / sum;
                if (cumulative >= _p.TopP)
                {
                    n = i + 1;
                    break;
                }
            }
        }
        if (_p.MinP > 0f)
        {
            // p_i >= min_p * p_max  <=>  logit_i >= max + ln(min_p)
            float threshold = max + MathF.Log(_p.MinP);
            int keep = 1;
            while (keep < n && -_keys[keep] >= threshold)
                keep++;
            n = keep;
        }

        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double e = Math.Exp((-_keys[i] - max) / _p.Temperature);
            _keys[i] = (float)e;
            total += e;
        }
        double r = _random.NextDouble() * total;
        double acc = 0;
        for (int i = 0; i < n; i++)
        {
            acc += _keys[i];
            if (r < acc)
                return _ids[i];
        }
        return _ids[n - 1];
    }

    /// <summary>NaN logits become −∞ (never drawn) and +∞ the largest float (drawn as the certain choice), as greedy sampling reads them.</summary>
    /// <returns>The row's largest logit after the change.</returns>
    private static float Sanitize(Span<float> l)
    {
        float max = float.NegativeInfinity;
        for (int i = 0; i < l.Length; i++)
        {
            if (float.IsNaN(l[i]))
                l[i] = float.NegativeInfinity;
            else if (float.IsPositiveInfinity(l[i]))
                l[i] = float.MaxValue;
            max = Math.Max(max, l[i]);
        }
        if (max == float.NegativeInfinity)
            throw new InvalidOperationException("Every logit is NaN or −∞: the model's output for this token is broken.");
        return max;
    }

    private int GatherCandidates(ReadOnlySpan<float> l, float max)
    {
        int vocab = l.Length;
        if (_p.TopK > 0 && _p.TopK < vocab)
        {
            // Min-heap of the k best (by logit) seen so far, kept in _keys/_ids[0..k).
            int k = _p.TopK, size = 0;
            for (int i = 0; i < vocab; i++)
            {
                if (size < k)
                {
                    _keys[size] = l[i];
                    _ids[size] = i;
                    SiftUp(size++);
                }
                else if (l[i] > _keys[0])
                {
                    _keys[0] = l[i];
                    _ids[0] = i;
                    SiftDown(0, size);
                }
            }
            for (int i = 0; i < size; i++)
                _keys[i] = -_keys[i];
            Array.Sort(_keys, _ids, 0, size);
            return size;
        }
        bool filtered = _p.TopP < 1f || _p.MinP > 0f;
        float floor = filtered ? max - 30f : float.NegativeInfinity;
        int n = 0;
        for (int i = 0; i < vocab; i++)
        {
            if (l[i] >= floor)
            {
                _ids[n] = i;
                _keys[n++] = -l[i];
            }
        }
        if (filtered)
            Array.Sort(_keys, _ids, 0, n);
        else
        {
            // Unsorted is fine for a plain draw, but the code below reads the maximum from _keys[0].
            int best = 0;
            for (int i = 1; i < n; i++)
            {
                if (_keys[i] < _keys[best])
                    best = i;
            }
            (_keys[0], _keys[best]) = (_keys[best], _keys[0]);
            (_ids[0], _ids[best]) = (_ids[best], _ids[0]);
        }
        return n;
    }

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (_keys[parent] <= _keys[i])
                return;
            Swap(i, parent);
            i = parent;
        }
    }

    private void SiftDown(int i, int size)
    {
        while (true)
        {
            int smallest = i, left = 2 * i + 1, right = left + 1;
            if (left < size && _keys[left] < _keys[smallest])
                smallest = left;
            if (right < size && _keys[right] < _keys[smallest])
                smallest = right;
            if (smallest == i)
                return;
            Swap(i, smallest);
            i = smallest;
        }
    }

    private void Swap(int a, int b)
    {
        (_keys[a], _keys[b]) = (_keys[b], _keys[a]);
        (_ids[a], _ids[b]) = (_ids[b], _ids[a]);
    }

    private void ApplyPenalties(Span<float> l)
    {
        if (_counts.Count == 0)
            return;
        foreach (var (token, count) in _counts)
        {
            if ((uint)token >= (uint)l.Length)
                continue;
            ref float v = ref l[token];
            if (_p.RepetitionPenalty != 1f)
                v = v > 0 ? v / _p.RepetitionPenalty : v * _p.RepetitionPenalty;
            v -= count * _p.FrequencyPenalty + _p.PresencePenalty;
        }
    }

    /// <summary>Index of the largest value; the lowest index wins ties, as llama.cpp's greedy sampler does. NaNs are passed over.</summary>
    /// <remarks>
    /// Two vectorized passes (the maximum, then its first occurrence) instead of one scalar compare per entry: greedy
    /// decoding runs this over the whole vocabulary every token (32,000-150,000 floats). A NaN makes the vectorized
    /// maximum NaN, so then the scalar loop, which skips NaNs, decides; <see cref="ArgMaxScalar"/> is the reference.
    /// </remarks>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
            return 0;
        float max = System.Numerics.Tensors.TensorPrimitives.Max(values);
        return float.IsNaN(max) ? ArgMaxScalar(values) : values.IndexOf(max);
    }

    /// <summary>The plain loop <see cref="ArgMax"/> must agree with.</summary>
    internal static int ArgMaxScalar(ReadOnlySpan<float> values)
    {
        int best = 0;
        float bestValue = float.NegativeInfinity;
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                best = i;
            }
        }
        return best;
    }
}
