using System.Runtime.CompilerServices;
using System.Text;

namespace TokenFactory.Gguf;

/// <summary>
/// A bounds-checked cursor over the mapped header. Every read checks the bytes that remain first,
/// so a corrupt count or length turns into a <see cref="GgufFormatException"/> at the offset where
/// it was read, never into an out-of-range access or a giant allocation.
/// </summary>
internal unsafe struct GgufHeaderReader
{
    /// <summary>The longest metadata string or key read (256 MiB).</summary>
    public const ulong MaxStringBytes = 256UL << 20;

    private readonly byte* _base;
    private readonly long _length;
    private readonly string _file;

    public GgufHeaderReader(byte* @base, long length, string file)
    {
        _base = @base;
        _length = length;
        _file = file;
        Position = 0;
    }

    public long Position { get; private set; }

    public readonly long Remaining => _length - Position;

    public readonly GgufFormatException Error(string problem, long? at = null) => new(_file, at ?? Position, problem);

    private void Need(long bytes, string what)
    {
        if (bytes < 0 || bytes > Remaining)
            throw Error($"file is truncated: {what} needs {bytes} bytes but only {Remaining} remain");
    }

    public T Read<T>(string what) where T : unmanaged
    {
        Need(sizeof(T), what);
        T value = Unsafe.ReadUnaligned<T>(_base + Position);
        Position += sizeof(T);
        return value;
    }

    public string ReadString(string what)
    {
        long start = Position;
        ulong len = Read<ulong>(what + " length");
        // Chat templates and embedded tokenizer files are kilobytes to tens of megabytes: a longer string is a corrupt length,
        // which in a large file would otherwise decode a gigabyte of tensor data as text.
        if (len > MaxStringBytes)
            throw Error($"{what} of {len} bytes is too long (at most {MaxStringBytes})", start);
        if (len > (ulong)Remaining)
            throw Error($"{what} claims {len} bytes but only {Remaining} remain", start);
        var s = Encoding.UTF8.GetString(_base + Position, (int)len);
        Position += (long)len;
        return s;
    }

    /// <summary>Checks that <paramref name="count"/> elements of at least <paramref name="minSize"/> bytes can still fit.</summary>
    public readonly void CheckCount(ulong count, long minSize, string what, long at)
    {
        if (count > (ulong)Remaining / (ulong)Math.Max(1, minSize) || count > int.MaxValue)
            throw Error($"{what} count {count} cannot fit in the {Remaining} bytes that remain", at);
    }

    public void Seek(long position)
    {
        if (position < 0 || position > _length)
            throw Error($"offset {position} is outside the file ({_length} bytes)");
        Position = position;
    }
}
