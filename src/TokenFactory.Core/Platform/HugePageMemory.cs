using System.Runtime.InteropServices;

namespace TokenFactory.Platform;

/// <summary>
/// Native buffers for data streamed every token (repacked weights) and for the bandwidth kernel that sets their
/// roofline. Buffers of 2 MiB or more are aligned to 2 MiB and, on Linux, advised as transparent huge pages before the
/// first write: decoding walks hundreds of megabytes per token, and with 4 KiB pages every 4 KiB of weights costs a
/// TLB miss (a nested page walk under a hypervisor). Where the kernel gives no huge pages (THP "never", no
/// contiguous memory), the advice is ignored and the buffer works as before. <see cref="KernelOptions.HugePages"/> false turns it off.
/// </summary>
internal static unsafe class HugePageMemory
{
    private const long HugePage = 2L << 20;
    private const int MadvHugePage = 14;

    internal static readonly bool Enabled = KernelOptions.Current.HugePages;

    public static byte* Allocate(long bytes)
    {
        bytes = Math.Max(bytes, 1);
        bool huge = Enabled && bytes >= HugePage;
        byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, huge ? (nuint)HugePage : 64);
        if (huge && OperatingSystem.IsLinux())
            _ = Madvise(p, (nuint)(bytes / HugePage * HugePage), MadvHugePage); // advisory: failure only costs speed
        return p;
    }

    public static void Free(byte* p) => NativeMemory.AlignedFree(p);

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);
}
