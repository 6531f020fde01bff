using System.Runtime.InteropServices;
using TokenFactory.Platform;

namespace TokenFactory.Gguf;

/// <summary>
/// Buffers derived from tensors (weights repacked once at load for a faster kernel) live as long as the file, are
/// built once per tensor and layout however many times a matrix over the tensor is created, and are freed with it.
/// </summary>
public sealed unsafe partial class GgufFile
{
    private readonly Dictionary<string, DerivedBuffer> _derived = new(StringComparer.Ordinal);
    private readonly HugePageArena _derivedMemory = new();

    /// <summary>
    /// The buffer derived from <paramref name="tensor"/> under <paramref name="layout"/>, building it with
    /// <paramref name="build"/> (which fills <paramref name="bytes"/> bytes) the first time.
    /// </summary>
    internal byte* Derived(GgufTensorInfo tensor, string layout, long bytes, Action<IntPtr> build)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        string key = tensor.Name + "\0" + layout;
        lock (_derived)
        {
            if (_derived.TryGetValue(key, out var existing))
                return existing.Pointer;
            // A build that throws leaves its bytes in the arena until the file is disposed (a load that fails disposes it).
            var buffer = new DerivedBuffer(_derivedMemory.Allocate(bytes), bytes);
            build((IntPtr)buffer.Pointer);
            _derived.Add(key, buffer);
            return buffer.Pointer;
        }
    }

    /// <summary>Bytes held in derived buffers (repacked weights), for memory reports.</summary>
    public long DerivedBytes
    {
        get
        {
            lock (_derived)
                return _derived.Values.Sum(b => b.Length);
        }
    }

    /// <summary>
    /// Drops this process's resident pages of a tensor whose data now lives in a derived buffer, so the repacked copy
    /// does not double the model in memory. The mapping stays valid: a later read (an embedding row of a tied output
    /// matrix, say) pages the bytes back in from the page cache. Only for files mapped on Linux; elsewhere a no-op.
    /// </summary>
    internal void ReleaseResidentPages(GgufTensorInfo tensor)
    {
        if (_view == null || !OperatingSystem.IsLinux())
            return;
        long page = Environment.SystemPageSize;
        long start = (long)TensorData(tensor), end = start + tensor.ByteSize;
        long first = (start + page - 1) / page * page, last = end / page * page;
        if (last > first)
            _ = Madvise((void*)first, (nuint)(last - first), MadvDontNeed); // advisory: failure only costs memory
    }

    private const int MadvDontNeed = 4;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private void DisposeDerived()
    {
        lock (_derived)
        {
            _derived.Clear();
            _derivedMemory.Dispose();
        }
    }

    /// <summary>A derived buffer: native memory outside the GC heap (a gigabyte of weights costs no GC work), in the file's arena.</summary>
    private readonly struct DerivedBuffer(byte* pointer, long length)
    {
        public byte* Pointer { get; } = pointer;
        public long Length { get; } = length;
    }
}
