namespace TokenFactory.Engine;

/// <summary>
/// Keys and values of one sequence, per layer, in half precision — llama.cpp's default cache type,
/// which halves cache memory and keeps our attention numerically in step with it.
/// </summary>
/// <remarks>
/// Keys are stored as <see cref="KvBlockPool"/> stores them: channel-major within runs of <see cref="KeyBlock"/>
/// positions, so attention widens a KV head's keys 16 positions per vector, already transposed the way its score loop
/// reads them. Row-major keys made every decode step transpose the whole cache again, one float at a time (about 3 %
/// of a tinyllama decode step at 128 positions). Values stay a row per position.
/// </remarks>
public sealed class KvCache
{
    /// <summary>Positions per channel-major run of keys.</summary>
    public const int KeyBlock = 16;

    private readonly Half[][] _keys;
    private readonly Half[][] _values;

    public KvCache(int layers, int contextLength, int kvDimension)
    {
        Layers = layers;
        ContextLength = contextLength;
        KvDimension = kvDimension;
        long keyPositions = (contextLength + KeyBlock - 1L) / KeyBlock * KeyBlock;
        _keys = new Half[layers][];
        _values = new Half[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new Half[keyPositions * kvDimension];
            _values[l] = new Half[(long)contextLength * kvDimension];
        }
    }

    public int Layers { get; }
    public int ContextLength { get; }
    public int KvDimension { get; }

    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; set; }

    /// <summary>Bytes held: keys (context rounded up to whole runs) and values, every layer.</summary>
    public long Bytes => Layers * ((ContextLength + KeyBlock - 1L) / KeyBlock * KeyBlock + ContextLength) * KvDimension * sizeof(short);

    /// <summary>Stores position <paramref name="position"/>'s key, rounded to half precision.</summary>
    public void WriteKey(int layer, int position, ReadOnlySpan<float> key)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(key.Length, KvDimension);
        var keys = _keys[layer].AsSpan(KeyOffset(position, 0), (KvDimension - 1) * KeyBlock + 1);
        for (int c = 0; c < KvDimension; c++)
            keys[c * KeyBlock] = (Half)key[c];
    }

    /// <summary>Channel <paramref name="channel"/> of position <paramref name="position"/>'s stored key.</summary>
    public Half KeyAt(int layer, int position, int channel) => _keys[layer][KeyOffset(position, channel)];

    /// <summary>Offset in <see cref="AllKeys"/> of (position, channel); the next position of the same run is the next element.</summary>
    public int KeyOffset(int position, int channel) => (position / KeyBlock * KvDimension + channel) * KeyBlock + position % KeyBlock;

    /// <summary>Position <paramref name="position"/>'s value row.</summary>
    public Span<Half> Values(int layer, int position) => _values[layer].AsSpan(position * KvDimension, KvDimension);

    /// <summary>Layer <paramref name="layer"/>'s keys, laid out as <see cref="KeyOffset"/> says.</summary>
    public ReadOnlySpan<Half> AllKeys(int layer) => _keys[layer];

    public ReadOnlySpan<Half> AllValues(int layer) => _values[layer];

    public void Clear() => Length = 0;
}
