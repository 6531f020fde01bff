using TokenFactory.Gguf;
using TokenFactory.Platform;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// A 2-D weight tensor read in place from the memory-mapped file: <see cref="Rows"/> output features,
/// each a row of <see cref="Columns"/> input features in the tensor's own (possibly quantized) format.
/// <para>
/// A matrix used for multiplication may also carry a repacked copy (<see cref="Packed"/>: Q8_0 or Q4_K in groups of 8 rows
/// for <see cref="LegacyGemmX8"/> / <see cref="GemmQ4_Kx8"/>), built once per tensor and owned by the file. The mapped pages of a repacked tensor are
/// then released, so the weights stay resident once; <see cref="Row"/> still reads the file (paging rows back in).
/// </para>
/// </summary>
public readonly unsafe struct WeightMatrix
{
    /// <param name="stacked">Accept a 3-D tensor (a stack of expert matrices) as one matrix of all their rows; see <see cref="RowRange"/>.</param>
    /// <param name="forMultiplication">
    /// Whether the matrix feeds <see cref="MatMul"/> (repack it where a faster kernel wants another layout); false for
    /// tables only looked up by row, such as token embeddings.
    /// </param>
    public WeightMatrix(GgufFile file, GgufTensorInfo info, bool stacked = false, bool forMultiplication = true)
    {
        if (info.Dimensions.Length > (stacked ? 3 : 2))
            throw new TokenFactoryException($"{file.Path}: tensor '{info.Name}' has {info.Dimensions.Length} dimensions; a matrix needs at most 2.");
        Name = info.Name;
        Type = info.Type;
        Columns = (int)info.RowLength;
        Rows = (int)info.RowCount;
        RowBytes = (int)info.RowBytes;
        Data = file.TensorData(info);
        if (forMultiplication && Repacks(Type, Columns))
        {
            byte* src = Data;
            int rows = Rows, columns = Columns;
            long rowBytes = RowBytes;
            Packed = Type switch
            {
                GgmlType.Q8_0 => file.Derived(info, "q8_0x8", LegacyGemmX8<Q8_0x8>.PackedBytes(rows, columns / 32),
                    dst => LegacyGemmX8<Q8_0x8>.Pack(src, rows, rowBytes, columns / 32, (byte*)dst)),
                GgmlType.Q4_0 => file.Derived(info, "q4_0x8", LegacyGemmX8<Q4_0x8>.PackedBytes(rows, columns / 32),
                    dst => LegacyGemmX8<Q4_0x8>.Pack(src, rows, rowBytes, columns / 32, (byte*)dst)),
                GgmlType.IQ4_NL => file.Derived(info, "iq4_nlx8", LegacyGemmX8<IQ4_NLx8>.PackedBytes(rows, columns / 32),
                    dst => LegacyGemmX8<IQ4_NLx8>.Pack(src, rows, rowBytes, columns / 32, (byte*)dst)),
                GgmlType.MXFP4 => file.Derived(info, "mxfp4x8", LegacyGemmX8<MXFP4x8>.PackedBytes(rows, columns / 32),
                    dst => LegacyGemmX8<MXFP4x8>.Pack(src, rows, rowBytes, columns / 32, (byte*)dst)),
                GgmlType.Q5_K => file.Derived(info, "q5_kx8", GemmQ5_Kx8.PackedBytes(rows, columns / 256),
                    dst => GemmQ5_Kx8.Pack(src, rows, rowBytes, columns / 256, (byte*)dst)),
                GgmlType.Q6_K => file.Derived(info, "q6_kx8", GemmQ6_Kx8.PackedBytes(rows, columns / 256),
                    dst => GemmQ6_Kx8.Pack(src, rows, rowBytes, columns / 256, (byte*)dst)),
                _ => file.Derived(info, "q4_kx8", GemmQ4_Kx8.PackedBytes(rows, columns / 256),
                    dst => GemmQ4_Kx8.Pack(src, rows, rowBytes, columns / 256, (byte*)dst)),
            };
            file.ReleaseResidentPages(info);
        }
        else if (forMultiplication && CopiesRows)
        {
            // The row kernels read the file's layout, but from a copy on huge pages: decoding streams every row per
            // token, and the mapped file's 4 KiB pages cost a TLB miss (a nested page walk on a VM) per 4 KiB. An F16
            // tinyllama decoded 4.9 tokens/s from the mapping and 11.6 from the copy, minutes apart (Zen 5 VM, 2 threads).
            byte* src = Data;
            long bytes = (long)RowBytes * Rows;
            Data = file.Derived(info, "rows", bytes, dst => Buffer.MemoryCopy(src, (byte*)dst, bytes, bytes));
            file.ReleaseResidentPages(info);
        }
    }

    /// <summary>Whether a multiplied matrix that is not repacked is copied, rows as in the file, onto huge pages (every such type unless <see cref="KernelOptions.Repack"/> is false).</summary>
    internal static bool CopiesRows => !s_packingDisabled;

    /// <summary>
    /// Whether a multiplied matrix of this type and width is repacked on this CPU (Q8_0, Q4_0, IQ4_NL and MXFP4 for
    /// <see cref="LegacyGemmX8"/>, Q4_K for <see cref="GemmQ4_Kx8"/>, Q5_K for <see cref="GemmQ5_Kx8"/> and Q6_K for <see cref="GemmQ6_Kx8"/> where their
    /// 512-bit kernels run);
    /// other types stay in the file's layout and use the row kernels.
    /// </summary>
    internal static bool Repacks(GgmlType type, int columns) => !s_packingDisabled && type switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.IQ4_NL or GgmlType.MXFP4 => columns % 32 == 0 && LegacyGemmX8.IsSupported,
        GgmlType.Q4_K => columns % 256 == 0 && GemmQ4_Kx8.TiledIsSupported,
        GgmlType.Q5_K => columns % 256 == 0 && GemmQ5_Kx8.IsSupported,
        GgmlType.Q6_K => columns % 256 == 0 && GemmQ6_Kx8.IsSupported,
        _ => false,
    };

    // KernelOptions.Repack false keeps weights in the file's layout (row kernels), to compare or to save load time.
    private static readonly bool s_packingDisabled = !KernelOptions.Current.Repack;
    private WeightMatrix(in WeightMatrix whole, int firstRow, int rows)
    {
        Name = whole.Name;
        Type = whole.Type;
        Columns = whole.Columns;
        Rows = rows;
        RowBytes = whole.RowBytes;
        Data = whole.Data + (long)firstRow * whole.RowBytes;
        // A range that starts on a group boundary keeps the repacked layout (its last group may compute rows past the
        // range, which are dropped); any other start uses the file's rows.
        Packed = whole.Packed != null && firstRow % LegacyGemmX8.GroupRows == 0
            ? whole.Packed + firstRow / LegacyGemmX8.GroupRows * GroupBytes(whole.Type, whole.Columns)
            : null;
    }

    /// <summary>Bytes of one repacked group of 8 rows of a matrix of this type and width.</summary>
    internal static long GroupBytes(GgmlType type, int columns) => type switch
    {
        GgmlType.Q8_0 => LegacyGemmX8<Q8_0x8>.PackedBytes(LegacyGemmX8.GroupRows, columns / 32),
        GgmlType.Q4_0 => LegacyGemmX8<Q4_0x8>.PackedBytes(LegacyGemmX8.GroupRows, columns / 32),
        GgmlType.IQ4_NL => LegacyGemmX8<IQ4_NLx8>.PackedBytes(LegacyGemmX8.GroupRows, columns / 32),
        GgmlType.MXFP4 => LegacyGemmX8<MXFP4x8>.PackedBytes(LegacyGemmX8.GroupRows, columns / 32),
        GgmlType.Q5_K => GemmQ5_Kx8.PackedBytes(GemmQ5_Kx8.GroupRows, columns / 256),
        GgmlType.Q6_K => GemmQ6_Kx8.PackedBytes(GemmQ6_Kx8.GroupRows, columns / 256),
        _ => GemmQ4_Kx8.PackedBytes(GemmQ4_Kx8.GroupRows, columns / 256),
    };

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

    /// <summary>The repacked copy (<see cref="LegacyGemmX8"/> or <see cref="GemmQ4_Kx8"/> layout), or null when the matrix is used as stored.</summary>
    internal byte* Packed { get; }

    /// <summary>The memory a multiplication by this matrix streams: its repacked groups where it has them, else its rows (their copy on huge pages, or the mapping).</summary>
    public (nint Address, long Length) Streamed => Packed != null
        ? ((nint)Packed, LegacyGemmX8.Groups(Rows) * GroupBytes(Type, Columns))
        : ((nint)Data, (long)RowBytes * Rows);

    public ReadOnlySpan<byte> Row(int r) => new(Data + (long)r * RowBytes, RowBytes);

    public void DequantizeRow(int r, Span<float> destination) => Dequantizer.DequantizeRow(Type, Row(r), destination[..Columns]);
}
