using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using TokenFactory.Tensors;

namespace TokenFactory.Gguf;

/// <summary>
/// A GGUF v2/v3 file: metadata and tensor table parsed and validated up front; tensor data stays
/// memory-mapped (the OS pages weights in on demand and shares them between processes, so a model
/// is never copied into managed memory).
/// </summary>
public sealed unsafe partial class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" little-endian
    public const int DefaultAlignment = 32;
    private const int MaxDimensions = 4;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private GCHandle _pin;
    private byte* _base;
    private readonly Dictionary<string, GgufTensorInfo> _byName = new(StringComparer.Ordinal);

    private GgufFile(string path, long length)
    {
        Path = path;
        Length = length;
        Metadata = new GgufMetadata(path);
    }

    public string Path { get; }
    public long Length { get; }
    public uint Version { get; private set; }
    public int Alignment { get; private set; } = DefaultAlignment;
    public GgufMetadata Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; private set; } = [];

    /// <summary>File offset where the tensor data section starts.</summary>
    public long DataOffset { get; private set; }

    public string? Architecture => Metadata.GetStringOrNull("general.architecture");

    public static GgufFile Open(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new GgufFormatException(path, -1, "file not found");
        long length = new FileInfo(fullPath).Length;
        if (length < 24)
            throw new GgufFormatException(path, 0, $"file is truncated: {length} bytes is smaller than a GGUF header");
        var map = MemoryMappedFile.CreateFromFile(fullPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor view;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        catch
        {
            map.Dispose();
            throw;
        }
        var file = new GgufFile(path, length, map, view);
        try
        {
            file.Parse();
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Parses an in-memory image (tests and fuzzing); the array is pinned for the file's lifetime.</summary>
    public static GgufFile FromBytes(byte[] data, string name = "<memory>")
    {
        var file = new GgufFile(name, data.Length, data);
        try
        {
            if (data.Length < 24)
                throw new GgufFormatException(name, 0, $"file is truncated: {data.Length} bytes is smaller than a GGUF header");
            file.Parse();
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private GgufFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view) : this(path, length)
    {
        _map = map;
        _view = view;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    private GgufFile(string path, long length, byte[] data) : this(path, length)
    {
        _pin = GCHandle.Alloc(data, GCHandleType.Pinned);
        _base = (byte*)_pin.AddrOfPinnedObject();
    }

    public GgufTensorInfo? FindTensor(string name) => _byName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensorInfo(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw new GgufFormatException(Path, -1, $"required tensor '{name}' is missing");

    /// <summary>Pointer to the first byte of a tensor's data. Valid until the file is disposed.</summary>
    public byte* TensorData(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return _base + DataOffset + tensor.Offset;
    }

    /// <summary>A tensor's bytes as a span (tensors up to 2 GiB; larger ones are read through <see cref="TensorData"/> row by row).</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor) =>
        tensor.ByteSize <= int.MaxValue
            ? new ReadOnlySpan<byte>(TensorData(tensor), (int)tensor.ByteSize)
            : throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteSize} bytes; read it row by row.");

    public void Dispose()
    {
        if (_base == null)
            return;
        DisposeDerived();
        _base = null;
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map!.Dispose();
        }
        if (_pin.IsAllocated)
            _pin.Free();
    }
}
