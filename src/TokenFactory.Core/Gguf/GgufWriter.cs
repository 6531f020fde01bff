using System.Text;
using TokenFactory.Tensors;

namespace TokenFactory.Gguf;

/// <summary>
/// Writes GGUF v3 files that llama.cpp loads. Tensor data is produced by callbacks while the file is
/// written, so multi-gigabyte synthetic models stream to disk without being held in memory.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(GgufTensorInfo Info, Action<Stream> Write)> _tensors = [];

    public GgufMetadata Metadata { get; } = new("gguf writer");

    public int Alignment { get; init; } = GgufFile.DefaultAlignment;

    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors.Select(t => t.Info).ToList();

    public void AddTensor(string name, long[] dims, GgmlType type, byte[] data)
    {
        var info = new GgufTensorInfo(name, dims, type, 0);
        if (data.LongLength != info.ByteSize)
            throw new ArgumentException($"Tensor '{name}' needs {info.ByteSize} bytes, got {data.LongLength}.");
        AddTensor(name, dims, type, s => s.Write(data));
    }

    /// <summary>Adds a tensor whose bytes <paramref name="write"/> emits (exactly the tensor's byte size).</summary>
    public void AddTensor(string name, long[] dims, GgmlType type, Action<Stream> write)
    {
        if (_tensors.Any(t => t.Info.Name == name))
            throw new ArgumentException($"Duplicate tensor '{name}'.");
        long offset = 0;
        if (_tensors.Count > 0)
        {
            var last = _tensors[^1].Info;
            offset = GgufFile.AlignUp(last.Offset + last.ByteSize, Alignment);
        }
        _tensors.Add((new GgufTensorInfo(name, dims, type, offset), write));
    }

    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        Write(ms);
        return ms.ToArray();
    }

    public void Write(Stream output)
    {
        if (Alignment != GgufFile.DefaultAlignment)
            Metadata.Set("general.alignment", GgufValue.Of((uint)Alignment));
        var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)Metadata.Count);
        foreach (var (key, value) in Metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        foreach (var (info, _) in _tensors)
        {
            WriteString(w, info.Name);
            w.Write((uint)info.Dimensions.Length);
            foreach (long d in info.Dimensions)
                w.Write((ulong)d);
            w.Write((uint)info.Type);
            w.Write((ulong)info.Offset);
        }
        w.Flush();
        long headerEnd = output.Position;
        Pad(output, GgufFile.AlignUp(headerEnd, Alignment) - headerEnd);
        long dataStart = output.Position;
        foreach (var (info, write) in _tensors)
        {
            Pad(output, dataStart + info.Offset - output.Position);
            long before = output.Position;
            write(output);
            if (output.Position - before != info.ByteSize)
                throw new InvalidOperationException($"Tensor '{info.Name}' wrote {output.Position - before} bytes, expected {info.ByteSize}.");
        }
        output.Flush();
    }

    private static void Pad(Stream s, long n)
    {
        for (long i = 0; i < n; i++)
            s.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Type)
        {
            case GgufValueType.Array:
                w.Write((uint)v.ElementType);
                var a = (Array)v.Value;
                w.Write((ulong)a.Length);
                foreach (object? e in a)
                {
                    if (e is GgufValue nested)
                        WriteValue(w, nested);
                    else
                        WriteScalar(w, v.ElementType, e!);
                }
                break;
            default:
                WriteScalar(w, v.Type, v.Value);
                break;
        }
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType t, object o)
    {
        switch (t)
        {
            case GgufValueType.UInt8: w.Write(Convert.ToByte(o)); break;
            case GgufValueType.Int8: w.Write(Convert.ToSByte(o)); break;
            case GgufValueType.UInt16: w.Write(Convert.ToUInt16(o)); break;
            case GgufValueType.Int16: w.Write(Convert.ToInt16(o)); break;
            case GgufValueType.UInt32: w.Write(Convert.ToUInt32(o)); break;
            case GgufValueType.Int32: w.Write(Convert.ToInt32(o)); break;
            case GgufValueType.Float32: w.Write(Convert.ToSingle(o)); break;
            case GgufValueType.UInt64: w.Write(Convert.ToUInt64(o)); break;
            case GgufValueType.Int64: w.Write(Convert.ToInt64(o)); break;
            case GgufValueType.Float64: w.Write(Convert.ToDouble(o)); break;
            case GgufValueType.Bool: w.Write((byte)((bool)o ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)o); break;
            default: throw new ArgumentException($"Cannot write a {t} scalar.");
        }
    }
}
