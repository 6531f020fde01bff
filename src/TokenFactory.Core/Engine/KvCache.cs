namespace TokenFactory.Engine;

/// <summary>
/// Keys and values of one sequence, per layer, in half precision — llama.cpp's default cache type,
/// which halves cache memory and keeps our attention numerically in step with it.
/// </summary>
public sealed class KvCache
{
    private readonly Half[][] _keys;
    private readonly Half[][] _values;

    public KvCache(int layers, int contextLength, int kvDimension)
    {
        Layers = layers;
        ContextLength = contextLength;
        KvDimension = kvDimension;
        _keys = new Half[layers][];
        _values = new Half[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new Half[(long)contextLength * kvDimension];
            _values[l] = new Half[(long)contextLength * kvDimension];
        }
    }

    public int Layers { get; }
    public int ContextLength { get; }
    public int KvDimension { get; }

    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; set; }

    public long Bytes => 2L * Layers * ContextLength * KvDimension * sizeof(short);

    public Span<Half> Keys(int layer, int position) => _keys[layer].AsSpan(position * KvDimension, KvDimension);

    public Span<Half> Values(int layer, int position) => _values[layer].AsSpan(position * KvDimension, KvDimension);

    public ReadOnlySpan<Half> AllKeys(int layer) => _keys[layer];

    public ReadOnlySpan<Half> AllValues(int layer) => _values[layer];

    public void Clear() => Length = 0;
}
