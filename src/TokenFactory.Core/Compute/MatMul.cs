using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// Multiplies a weight matrix by a batch of activation rows: <c>out[t, r] = W[r] · x[t]</c>.
/// As llama.cpp does, activations are first converted to the weight type's dot-product partner
/// (Q8_0, Q8_K, F16, …) so the inner loop is an integer or half-precision dot product and our logits
/// track llama.cpp's. Rows are split across the pool; each weight row is read once per call and
/// reused for every token in the batch while it is hot in cache.
/// </summary>
public sealed class MatMul : IParallelWork
{
    private readonly ComputePool _pool;
    private byte[] _activations = [];
    private WeightMatrix _w;
    private float[] _out = [];
    private int _outOffset;
    private int _tokens;
    private int _actRowBytes;

    public MatMul(ComputePool pool) => _pool = pool;

    public ComputePool Pool => _pool;

    /// <param name="x">Activations, <paramref name="tokens"/> rows of <c>w.Columns</c> floats starting at <paramref name="xOffset"/>.</param>
    /// <param name="output">Receives <paramref name="tokens"/> rows of <c>w.Rows</c> floats starting at <paramref name="outOffset"/>.</param>
    public void Multiply(in WeightMatrix w, float[] x, int xOffset, int tokens, float[] output, int outOffset)
    {
        var actType = VecDot.ActivationType(w.Type);
        _actRowBytes = (int)GgmlTypeInfo.RowSize(actType, w.Columns);
        int need = _actRowBytes * tokens;
        if (_activations.Length < need)
            _activations = new byte[Math.Max(need, _activations.Length * 2)];
        for (int t = 0; t < tokens; t++)
            Quantizer.QuantizeRow(actType, x.AsSpan(xOffset + t * w.Columns, w.Columns), _activations.AsSpan(t * _actRowBytes, _actRowBytes));
        _w = w;
        _out = output;
        _outOffset = outOffset;
        _tokens = tokens;
        _pool.Run(this);
        _out = [];
    }

    void IParallelWork.Execute(int thread, int threadCount)
    {
        var w = _w;
        int start = (int)((long)w.Rows * thread / threadCount);
        int end = (int)((long)w.Rows * (thread + 1) / threadCount);
        var acts = _activations;
        var output = _out;
        int rows = w.Rows;
        for (int r = start; r < end; r++)
        {
            var row = w.Row(r);
            for (int t = 0; t < _tokens; t++)
                output[_outOffset + t * rows + r] = VecDot.Dot(w.Type, row, acts.AsSpan(t * _actRowBytes, _actRowBytes), w.Columns);
        }
    }
}
