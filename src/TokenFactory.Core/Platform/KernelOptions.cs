namespace TokenFactory.Platform;

/// <summary>Which dot-product kernels run: the widest this CPU supports, or a slower tier pinned to compare results end to end.</summary>
public enum KernelIsa
{
    Best,
    Scalar,
    Avx2,
    Avx512,
}

/// <summary>
/// The process-wide settings of the kernels and of the memory they stream, in one place. Hosts bind them from
/// configuration (<c>TokenFactory:Kernels:*</c>) and call <see cref="Apply"/> at start-up; no Core code reads the
/// environment.
/// </summary>
/// <remarks>
/// The kernels copy what they need into <c>static readonly</c> fields when their class is first used, and the JIT then
/// compiles those fields as constants, so a hot loop tests no setting per element (a mutable field read there would cost
/// the branch folding every kernel relies on). That makes the settings fixed once any kernel has read them:
/// <see cref="Current"/> freezes them, and <see cref="Apply"/> with different settings afterwards throws instead of
/// silently having no effect.
/// </remarks>
public sealed record KernelOptions
{
    private static readonly Lock s_lock = new();
    private static KernelOptions s_current = new();
    private static bool s_frozen;

    /// <summary>
    /// Decode kernels prefetch weights non-temporally (<c>prefetchnta</c>) instead of into L1 (<c>prefetcht0</c>);
    /// null decides by CPU vendor: non-temporal on AMD and Hygon (Zen), where it measured 1.11-1.14x the bytes per second.
    /// </summary>
    public bool? PrefetchNta { get; init; }

    /// <summary>Bytes ahead that the Q8_0, Q4_0, 256-bit Q4_K and F16/BF16 decode kernels prefetch.</summary>
    public int PrefetchBytes { get; init; } = 4096;

    /// <summary>Bytes ahead that the 512-bit Q4_K and Q6_K decode kernels prefetch.</summary>
    public int WidePrefetchBytes { get; init; } = 8192;

    /// <summary>Q4_K weights packed for the 512-bit kernels where they run (AVX-512BW + VBMI); false keeps the 256-bit ones where those run.</summary>
    public bool Q4KWide { get; init; } = true;

    /// <summary>
    /// Q4_0 and MXFP4 prompt tiles (3-8 tokens) on 512-bit <c>vpmaddubsw</c> where AVX-512BW runs; false keeps the 256-bit
    /// <c>vpdpbusd</c> tiles. Same results either way (both compute every block's exact integer sum).
    /// </summary>
    public bool LegacyWide { get; init; } = true;

    /// <summary>The dot-product tier (<see cref="KernelIsa.Best"/>: the widest the CPU supports; an unsupported tier falls back to it).</summary>
    public KernelIsa Isa { get; init; }

    /// <summary>Repacked and copied weights live on 2 MiB transparent huge pages (one TLB entry per 2 MiB instead of per 4 KiB).</summary>
    public bool HugePages { get; init; } = true;

    /// <summary>Multiplied matrices are repacked (or copied) at load for the tiled kernels; false reads every weight from the mapped file.</summary>
    public bool Repack { get; init; } = true;

    /// <summary>The settings in force; reading them fixes them for the life of the process.</summary>
    public static KernelOptions Current
    {
        get
        {
            lock (s_lock)
            {
                s_frozen = true;
                return s_current;
            }
        }
    }

    /// <summary>
    /// Sets the process's kernel options; call before loading a model or running a kernel. Applying the settings already
    /// in force is always allowed (a host may start twice in one process, as tests do).
    /// </summary>
    /// <exception cref="InvalidOperationException">A kernel has already read different settings.</exception>
    public static void Apply(KernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        lock (s_lock)
        {
            if (!s_frozen)
                s_current = options;
            else if (options != s_current)
                throw new InvalidOperationException($"Kernel options are fixed once a kernel has read them: {s_current} is in force, {options} came too late.");
        }
    }

    /// <summary>Throws <see cref="TokenFactoryException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (PrefetchBytes < 0 || PrefetchBytes > 1 << 20)
            throw new TokenFactoryException($"Kernels:PrefetchBytes must be between 0 and 1 MiB, not {PrefetchBytes}.");
        if (WidePrefetchBytes < 0 || WidePrefetchBytes > 1 << 20)
            throw new TokenFactoryException($"Kernels:WidePrefetchBytes must be between 0 and 1 MiB, not {WidePrefetchBytes}.");
        if (!Enum.IsDefined(Isa))
            throw new TokenFactoryException($"Kernels:Isa must be one of {string.Join(", ", Enum.GetNames<KernelIsa>())}, not {Isa}.");
    }
}
