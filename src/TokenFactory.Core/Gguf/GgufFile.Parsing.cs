using TokenFactory.Tensors;

namespace TokenFactory.Gguf;

public sealed unsafe partial class GgufFile
{
    // Nested arrays deeper than this are not used by any real model; the cap keeps a hostile file from
    // exhausting the stack through recursion.
    private const int MaxArrayNesting = 8;

    private void Parse()
    {
        var r = new GgufHeaderReader(_base, Length, Path);
        uint magic = r.Read<uint>("magic");
        if (magic != Magic)
            throw r.Error($"bad magic 0x{magic:X8}: not a GGUF file (expected 'GGUF')", 0);
        Version = r.Read<uint>("version");
        if (Version is not (2 or 3))
            throw r.Error($"unsupported GGUF version {Version} (supported: 2, 3)", 4);

        long countAt = r.Position;
        ulong tensorCount = r.Read<ulong>("tensor count");
        ulong kvCount = r.Read<ulong>("metadata count");
        // Smallest possible tensor info: 8-byte name length + 4 n_dims + 4 type + 8 offset.
        r.CheckCount(tensorCount, 24, "tensor", countAt);
        // Smallest possible key/value: 8-byte key length + 4-byte type + 1-byte value.
        r.CheckCount(kvCount, 13, "metadata", countAt + 8);

        for (ulong i = 0; i < kvCount; i++)
        {
            long at = r.Position;
            string key = r.ReadString("metadata key");
            if (key.Length == 0)
                throw r.Error("empty metadata key", at);
            var type = (GgufValueType)r.Read<uint>("metadata value type");
            var value = ReadValue(ref r, type, key, 0);
            if (!Metadata.TryAdd(key, value))
                throw r.Error($"duplicate metadata key '{key}'", at);
        }

        if (Metadata.TryGetValue("general.alignment", out var alignValue))
        {
            long align = alignValue.IsInteger ? alignValue.AsInt64Unchecked() : 0; // a uint64 past long's range wraps negative: refused below
            if (align <= 0 || align > 1 << 20 || (align & (align - 1)) != 0)
                throw r.Error($"general.alignment must be a power of two, got {alignValue.Format()}", -1);
            Alignment = (int)align;
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        for (ulong i = 0; i < tensorCount; i++)
            tensors.Add(ReadTensorInfo(ref r));

        DataOffset = AlignUp(r.Position, Alignment);
        if (DataOffset > Length && tensorCount > 0)
            throw r.Error($"file is truncated: tensor data should start at {DataOffset} but the file has {Length} bytes", r.Position);
        ValidateTensorData(tensors);
        Tensors = tensors;
    }

    private GgufValue ReadValue(ref GgufHeaderReader r, GgufValueType type, string key, int depth)
    {
        long at = r.Position;
        switch (type)
        {
            case GgufValueType.UInt8: return new(type, r.Read<byte>(key));
            case GgufValueType.Int8: return new(type, r.Read<sbyte>(key));
            case GgufValueType.UInt16: return new(type, r.Read<ushort>(key));
            case GgufValueType.Int16: return new(type, r.Read<short>(key));
            case GgufValueType.UInt32: return new(type, r.Read<uint>(key));
            case GgufValueType.Int32: return new(type, r.Read<int>(key));
            case GgufValueType.Float32: return new(type, r.Read<float>(key));
            case GgufValueType.UInt64: return new(type, r.Read<ulong>(key));
            case GgufValueType.Int64: return new(type, r.Read<long>(key));
            case GgufValueType.Float64: return new(type, r.Read<double>(key));
            case GgufValueType.Bool:
                byte b = r.Read<byte>(key);
                return b <= 1 ? new(type, b == 1) : throw r.Error($"'{key}': bool value {b} is neither 0 nor 1", at);
            case GgufValueType.String:
                return new(type, r.ReadString($"'{key}'"));
            case GgufValueType.Array:
                if (depth >= MaxArrayNesting)
                    throw r.Error($"'{key}': arrays nested deeper than {MaxArrayNesting} levels", at);
                var elementType = (GgufValueType)r.Read<uint>($"'{key}' array type");
                ulong count = r.Read<ulong>($"'{key}' array length");
                r.CheckCount(count, MinSize(elementType, ref r, key, at), $"'{key}' array element", at);
                return new(type, ReadArray(ref r, elementType, (int)count, key, depth), elementType);
            default:
                throw r.Error($"'{key}': unknown metadata value type {(uint)type}", at - 4);
        }
    }

    private static long MinSize(GgufValueType t, ref GgufHeaderReader r, string key, long at) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => throw r.Error($"'{key}': unknown array element type {(uint)t}", at),
    };

    private Array ReadArray(ref GgufHeaderReader r, GgufValueType t, int n, string key, int depth)
    {
        switch (t)
        {
            case GgufValueType.UInt8: return ReadPrimitives<byte>(ref r, n, key);
            case GgufValueType.Int8: return ReadPrimitives<sbyte>(ref r, n, key);
            case GgufValueType.UInt16: return ReadPrimitives<ushort>(ref r, n, key);
            case GgufValueType.Int16: return ReadPrimitives<short>(ref r, n, key);
            case GgufValueType.UInt32: return ReadPrimitives<uint>(ref r, n, key);
            case GgufValueType.Int32: return ReadPrimitives<int>(ref r, n, key);
            case GgufValueType.Float32: return ReadPrimitives<float>(ref r, n, key);
            case GgufValueType.UInt64: return ReadPrimitives<ulong>(ref r, n, key);
            case GgufValueType.Int64: return ReadPrimitives<long>(ref r, n, key);
            case GgufValueType.Float64: return ReadPrimitives<double>(ref r, n, key);
            case GgufValueType.Bool:
                var bools = new bool[n];
                for (int i = 0; i < n; i++)
                    bools[i] = (bool)ReadValue(ref r, t, key, depth + 1).Value;
                return bools;
            case GgufValueType.String:
                var strings = new string[n];
                for (int i = 0; i < n; i++)
                    strings[i] = r.ReadString($"'{key}'[{i}]");
                return strings;
            default:
                var nested = new GgufValue[n];
                for (int i = 0; i < n; i++)
                    nested[i] = ReadValue(ref r, t, key, depth + 1);
                return nested;
        }
    }

    private static T[] ReadPrimitives<T>(ref GgufHeaderReader r, int n, string key) where T : unmanaged
    {
        var a = new T[n];
        for (int i = 0; i < n; i++)
            a[i] = r.Read<T>(key);
        return a;
    }

    private GgufTensorInfo ReadTensorInfo(ref GgufHeaderReader r)
    {
        long at = r.Position;
        string name = r.ReadString("tensor name");
        uint nDims = r.Read<uint>($"tensor '{name}' dimension count");
        if (nDims is 0 or > MaxDimensions)
            throw r.Error($"tensor '{name}' has {nDims} dimensions (1 to {MaxDimensions} allowed)", at);
        var dims = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            ulong dim = r.Read<ulong>($"tensor '{name}' dimension");
            if (dim == 0 || dim > long.MaxValue)
                throw r.Error($"tensor '{name}' dimension {d} is {dim}", at);
            dims[d] = (long)dim;
            if (elements > long.MaxValue / dims[d])
                throw r.Error($"tensor '{name}' dimensions {string.Join("×", dims.Take(d + 1))} overflow a 64-bit element count", at);
            elements *= dims[d];
        }
        uint typeId = r.Read<uint>($"tensor '{name}' type");
        var type = (GgmlType)typeId;
        if (!GgmlTypeInfo.IsKnown(type))
            throw r.Error($"tensor '{name}' has unknown type id {typeId}", r.Position - 4);
        ulong offset = r.Read<ulong>($"tensor '{name}' offset");
        if (offset > long.MaxValue)
            throw r.Error($"tensor '{name}' offset {offset} is out of range", r.Position - 8);
        if (dims[0] % GgmlTypeInfo.BlockSize(type) != 0)
            throw r.Error($"tensor '{name}' row length {dims[0]} is not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}", at);
        if ((long)offset % Alignment != 0)
            throw r.Error($"tensor '{name}' offset {offset} is not a multiple of the alignment {Alignment}", r.Position - 8);
        if (elements / GgmlTypeInfo.BlockSize(type) > long.MaxValue / GgmlTypeInfo.TypeSize(type))
            throw r.Error($"tensor '{name}' byte size overflows", at);
        var info = new GgufTensorInfo(name, dims, type, (long)offset);
        if (!_byName.TryAdd(name, info))
            throw r.Error($"duplicate tensor name '{name}'", at);
        return info;
    }

    private void ValidateTensorData(List<GgufTensorInfo> tensors)
    {
        long dataLength = Length - DataOffset;
        foreach (var t in tensors)
        {
            if (t.Offset > dataLength || t.ByteSize > dataLength - t.Offset)
                throw new GgufFormatException(Path, DataOffset + t.Offset,
                    $"tensor '{t.Name}' data ({t.ByteSize} bytes at data offset {t.Offset}) runs past the end of the file ({Length} bytes): the file is truncated or the tensor table is corrupt");
        }
        var sorted = tensors.OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var prev = sorted[i - 1];
            if (sorted[i].Offset < prev.Offset + prev.ByteSize)
                throw new GgufFormatException(Path, DataOffset + sorted[i].Offset,
                    $"tensor '{sorted[i].Name}' overlaps tensor '{prev.Name}'");
        }
    }

    internal static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
