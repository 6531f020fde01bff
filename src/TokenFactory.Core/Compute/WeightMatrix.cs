using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// A 2-D weight tensor read in place from the memory-mapped file: <see cref="Rows"/> output features,
/// each a row of <see cref="Columns"/> input features in the tensor's own (possibly quantized) format.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(GgufFile file, GgufTensorInfo info)
    {
        if (info.Dimensions.Length > 2)
            throw new TokenFactoryException($"{file.Path}: tensor '{info.Name}' has {info.Dimensions.Length} dimensions; a matrix needs at most 2.");
        Name = info.Name;
        Type = info.Type;
        Columns = (int)info.RowLength;
        Rows = (int)info.RowCount;
        RowBytes = (int)info.RowBytes;
        Data = file.TensorData(info);
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
