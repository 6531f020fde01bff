namespace TokenFactory.Models;

/// <summary>
/// Per-sequence recurrent state of a hybrid model's Mamba-2 blocks, in slots: for every Mamba block a
/// rolling convolution window (the last kernel-1 inputs, oldest first) and the SSM state (per head,
/// head-dim × state-size), both F32 as llama.cpp keeps them. A sequence owns one slot while it runs;
/// slots are handed out and returned by the engine
/// thread only; a fresh or released slot is zero, which is the state before the first token.
/// </summary>
public sealed class RecurrentState
{
    private readonly float[][] _conv;
    private readonly float[][] _ssm;
    private readonly Stack<int> _free = new();
    private readonly bool[] _inUse;

    public RecurrentState(SsmConfig ssm, int mambaLayers, int slots)
    {
        if (slots < 1)
            throw new ArgumentOutOfRangeException(nameof(slots), "At least one state slot is needed.");
        Config = ssm;
        Slots = slots;
        _conv = new float[mambaLayers][];
        _ssm = new float[mambaLayers][];
        for (int l = 0; l < mambaLayers; l++)
        {
            _conv[l] = new float[(long)slots * ssm.ConvStateLength];
            _ssm[l] = new float[(long)slots * ssm.SsmStateLength];
        }
        _inUse = new bool[slots];
        for (int s = slots - 1; s >= 0; s--)
            _free.Push(s);
    }

    public SsmConfig Config { get; }
    public int Slots { get; }
    public int FreeSlots => _free.Count;

    /// <summary>Bytes of one slot across all Mamba blocks.</summary>
    public long BytesPerSlot => (long)_conv.Length * (Config.ConvStateLength + Config.SsmStateLength) * sizeof(float);

    public Span<float> Conv(int mambaLayer, int slot) => _conv[mambaLayer].AsSpan(slot * Config.ConvStateLength, Config.ConvStateLength);

    public Span<float> Ssm(int mambaLayer, int slot) => _ssm[mambaLayer].AsSpan(slot * Config.SsmStateLength, Config.SsmStateLength);

    /// <summary>Takes a zeroed slot, or returns -1 when all are in use.</summary>
    public int Allocate()
    {
        if (!_free.TryPop(out int slot))
            return -1;
        _inUse[slot] = true;
        return slot;
    }

    /// <summary>Returns a slot, zeroing it for its next owner.</summary>
    public void Release(int slot)
    {
        if (slot < 0 || slot >= Slots || !_inUse[slot])
            throw new InvalidOperationException($"State slot {slot} is not in use.");
        Clear(slot);
        _inUse[slot] = false;
        _free.Push(slot);
    }

    /// <summary>Copies <paramref name="slot"/>'s state, every Mamba block's window then SSM state, into <paramref name="destination"/>.</summary>
    public void CopyTo(int slot, Span<float> destination)
    {
        int at = 0;
        for (int l = 0; l < _conv.Length; l++)
        {
            Conv(l, slot).CopyTo(destination[at..]);
            at += Config.ConvStateLength;
            Ssm(l, slot).CopyTo(destination[at..]);
            at += Config.SsmStateLength;
        }
    }

    /// <summary>The reverse of <see cref="CopyTo"/>: <paramref name="slot"/> takes the state in <paramref name="source"/>.</summary>
    public void CopyFrom(ReadOnlySpan<float> source, int slot)
    {
        int at = 0;
        for (int l = 0; l < _conv.Length; l++)
        {
            source.Slice(at, Config.ConvStateLength).CopyTo(Conv(l, slot));
            at += Config.ConvStateLength;
            source.Slice(at, Config.SsmStateLength).CopyTo(Ssm(l, slot));
            at += Config.SsmStateLength;
        }
    }

    /// <summary>Back to the state before any token (a sequence restarting from position 0).</summary>
    public void Clear(int slot)
    {
        for (int l = 0; l < _conv.Length; l++)
        {
            Conv(l, slot).Clear();
            Ssm(l, slot).Clear();
        }
    }
}
