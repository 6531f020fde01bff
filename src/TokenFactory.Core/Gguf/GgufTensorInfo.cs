using TokenFactory.Tensors;

namespace TokenFactory.Gguf;

/// <summary>
/// One entry of the tensor table. <see cref="Dimensions"/> are in ggml order: element 0 is the
/// innermost (row) length, so a [rows × cols] matrix is stored as <c>{cols, rows}</c>.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dimensions, GgmlType Type, long Offset)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dimensions)
                n *= d;
            return n;
        }
    }

    public long RowLength => Dimensions.Length == 0 ? 1 : Dimensions[0];

    public long RowCount => ElementCount / Math.Max(1, RowLength);

    public long RowBytes => GgmlTypeInfo.RowSize(Type, RowLength);

    public long ByteSize => RowBytes * RowCount;

    public string ShapeText => "[" + string.Join(", ", Dimensions) + "]";
}
