using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// Segments: many matrices, each against its own consecutive rows of one activation buffer, in one parallel run (a
/// mixture's experts over the prompt tokens routed to each). A prompt gives each of 128 experts a few tokens; one
/// <see cref="Multiply"/> per expert matrix was two parallel runs (quantize, multiply) each, hundreds of barriers per
/// layer with a few microseconds of work between them. Here the rows are quantized once and the threads take row groups
/// across all the matrices.
/// </summary>
public sealed unsafe partial class MatMul
{
    private bool _segmented;
    private int _segmentCount;
    private WeightMatrix[] _segmentWeights = [];
    private float[][] _segmentOutputs = [];
    private int[] _segmentStarts = [];
    private int[] _segmentCounts = [];
    private int[] _segmentGroupEnds = [];

    /// <summary>Whether <see cref="MultiplySegments"/> takes these matrices: one repacked format, one width.</summary>
    public static bool CanMultiplySegments(ReadOnlySpan<WeightMatrix> weights)
    {
        if (weights.Length == 0)
            return false;
        var kind = KindOf(weights[0]);
        if (kind == Kind.Rows)
            return false;
        for (int i = 1; i < weights.Length; i++)
        {
            if (KindOf(weights[i]) != kind || weights[i].Columns != weights[0].Columns)
                return false;
        }
        return true;
    }

    /// <summary>
    /// Part p: <c>outputs[p][t·rows_p + r] = weights[p][r] · x[t]</c> for t in <c>[starts[p], starts[p] + counts[p])</c>, the output rows
    /// numbered as the input rows. The first <paramref name="rows"/> rows of <paramref name="x"/> are quantized, rows of no part
    /// too (keep them defined, e.g. zero: a K-quant tile of an odd count reads the scale and sums of the row after its last,
    /// and drops that lane). Each result has the bits <see cref="Multiply"/> gives it.
    /// </summary>
    /// <param name="rows">Activation rows quantized: a multiple of 8, covering every part's rows.</param>
    /// <param name="starts">Each part's first row: a multiple of 8 (the kernels' activation tables are laid out in runs of 8 tokens).</param>
    public void MultiplySegments(ReadOnlySpan<WeightMatrix> weights, float[] x, int rows, ReadOnlySpan<int> starts, ReadOnlySpan<int> counts,
        ReadOnlySpan<float[]> outputs)
    {
        int parts = weights.Length;
        if (starts.Length != parts || counts.Length != parts || outputs.Length != parts)
            throw new ArgumentException("Every part needs a start, a count and an output.");
        if (!CanMultiplySegments(weights))
            throw new ArgumentException("Segments need matrices of one repacked format and width.", nameof(weights));
        if (rows <= 0 || rows % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows: a positive multiple of 8 is needed.");
        int k = weights[0].Columns;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)rows * k, x.Length, nameof(x));
        if (_segmentWeights.Length < parts)
        {
            _segmentWeights = new WeightMatrix[parts];
            _segmentOutputs = new float[parts][];
            _segmentStarts = new int[parts];
            _segmentCounts = new int[parts];
            _segmentGroupEnds = new int[parts];
        }
        int groups = 0;
        for (int p = 0; p < parts; p++)
        {
            if (starts[p] < 0 || starts[p] % 8 != 0 || counts[p] <= 0 || starts[p] + counts[p] > rows)
                throw new ArgumentOutOfRangeException(nameof(starts), $"part {p}: rows {starts[p]}..{starts[p] + counts[p]} of {rows} (starts are multiples of 8).");
            ArgumentOutOfRangeException.ThrowIfGreaterThan((long)(starts[p] + counts[p]) * weights[p].Rows, outputs[p].Length, nameof(outputs));
            _segmentWeights[p] = weights[p];
            _segmentOutputs[p] = outputs[p];
            _segmentStarts[p] = starts[p];
            _segmentCounts[p] = counts[p];
            _segmentGroupEnds[p] = groups += LegacyGemmX8.Groups(weights[p].Rows);
        }
        _segmentCount = parts;
        _parts[0] = weights[0]; // the quantization reads the width and format from part 0
        _partCount = 1;
        _segmented = true;
        try
        {
            Run(x, 0, rows, 0);
        }
        finally
        {
            _segmented = false;
            _segmentOutputs.AsSpan(0, parts).Clear();
        }
    }

    /// <summary>Row groups of all segments' matrices, numbered part after part.</summary>
    private int SegmentGroups => _segmentGroupEnds[_segmentCount - 1];

    /// <summary>This thread's row groups of a segmented run, each against its part's tokens.</summary>
    private void MultiplySegmentGroups<TKernel>(int thread, in Activations a, long groupBytes, byte* prepared, float* res) where TKernel : struct, IGroupKernel
    {
        int k = a.K;
        while (_ranges.Take(thread, out int g0, out int g1))
        {
            int part = 0;
            while (g0 >= _segmentGroupEnds[part])
                part++;
            int partStart = part == 0 ? 0 : _segmentGroupEnds[part - 1], pairs = 0;
            for (int g = g0; g < g1; g++)
            {
                while (g >= _segmentGroupEnds[part])
                    partStart = _segmentGroupEnds[part++];
                int rows = _segmentWeights[part].Rows, local = g - partStart, r0 = 8 * local, valid = Math.Min(8, rows - r0);
                byte* group = _segmentWeights[part].Packed + local * groupBytes;
                int tokens = _segmentCounts[part];
                if (PairsWithNext<TKernel>(tokens, g, g1, r0, rows))
                {
                    // Two whole groups of this part's matrix: 16 rows a tile.
                    byte* nextPair = g + 3 < _segmentGroupEnds[part] ? group + 2 * groupBytes : null;
                    fixed (float* o = _segmentOutputs[part])
                        GroupPairTokens<TKernel>(group, groupBytes, prepared, a, k, _segmentStarts[part], tokens, o, rows, r0, res, nextPair);
                    g++;
                    pairs++;
                    continue;
                }
                byte* next = g + 1 < _segmentGroupEnds[part] ? group + groupBytes : null;
                fixed (float* o = _segmentOutputs[part])
                    GroupTokens<TKernel>(group, prepared, a, k, _segmentStarts[part], tokens, o, rows, r0, valid, res, next);
            }
            CountPairs(pairs);
        }
    }
}
