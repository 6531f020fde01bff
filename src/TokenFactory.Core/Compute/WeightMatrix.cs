using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// A 2-D weight tensor read in place from the memory-mapped file: <see cref="Rows"/> output features,
/// each a row of <see cref="Columns"/> input features in the tensor's own (possibly quantized) format.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    /// <param name="stacked">Accept a 3-D tensor (a stack of expert matrices) as one matrix of all their rows; see <see cref="RowRange"/>.</param>
    public WeightMatrix(GgufFile file, GgufTensorInfo info, bool stacked = false)
    {
        if (info.Dimensions.Length > (stacked ? 3 : 2))
            throw new TokenFactoryException($"{file.Path}: tensor '{info.Name}' has {info.Dimensions.Length} dimensions; a matrix needs at most 2.");
        Name = info.Name;
        Type = info.Type;
        Columns = (int)info.RowLength;
        Rows = (int)info.RowCount;
        RowBytes = (int)info.RowBytes;
        Data = file.TensorData(info);
    }

    private WeightMatrix(in WeightMatrix whole, int firstRow, int rows)
    {
        Name = whole.Name;
        Type = whole.Type;
        Columns = whole.Columns;
        Rows = rows;
        RowBytes = whole.RowBytes;
        Data = whole.Data + (long)firstRow * whole.RowBytes;
    }

    /// <summary>Rows <paramref name="firstRow"/>.. of this matrix as a matrix of their own (one expert of a stack), still in place.</summary>
    public WeightMatrix RowRange(int firstRow, int rows)
    {
        if (firstRow < 0 || rows < 0 || (long)firstRow + rows > Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), $"rows {firstRow}..{firstRow + rows} are outside {Name}'s {Rows}.");
        return new WeightMatrix(this, firstRow, rows);
    }

    public string Name { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int RowBytes { get; }
    public byte* Data { get; }

    public ReadOnlySpan<byte> Row(int r) => new(Data + (long)r * RowBytes, RowBytes);

    public void DequantizeRow(int r, Span<float> destination) => Dequantizer.DequantizeRow(Type, Row(r), destination[..Columns]);
}
