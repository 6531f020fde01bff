using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>
/// Bounds on what a file's hyperparameters may add up to, checked before anything is sized by them: a corrupt or hostile
/// header (a head size of 2^30 that wraps to 4 once multiplied by the heads, a block count of 2^31) must be a clear error,
/// not an overflow that slips past the tensor shape checks, a gigabyte-wide scratch row or a table of billions of blocks.
/// </summary>
public sealed partial record ModelConfig
{
    /// <summary>The most blocks a model may declare: the deepest published models have a few hundred.</summary>
    public const int MaxBlocks = 4096;

    /// <summary>The widest row any derived size may reach (64 M elements; real models' widest are tens of thousands).</summary>
    private const long MaxRowElements = 1L << 26;

    /// <summary>Per-block tables are sized by the block count before any tensor is looked up: refused first.</summary>
    private static void CheckBlockCount(GgufMetadata m, string arch)
    {
        string key = $"{arch}.block_count";
        if (m.ContainsKey(key) && m.GetInt64(key) is var blocks && blocks > MaxBlocks)
            throw new TokenFactoryException($"{m.Source}: '{key}' = {blocks} is more blocks than any model has (at most {MaxBlocks}); the header is corrupt.");
    }

    /// <summary>Every size derived from the hyperparameters, computed without overflow and held to <see cref="MaxRowElements"/>.</summary>
    private void CheckSizes(string source)
    {
        void Check(string what, long elements, string from)
        {
            if (elements > MaxRowElements)
                throw new TokenFactoryException($"{source}: the {what} ({from} = {elements:N0} elements) is wider than any model's (at most {MaxRowElements:N0}); the header is corrupt.");
        }

        long headSize = Math.Max(HeadSize, HeadSizeSliding);
        Check("attention query row", HeadCount * headSize, $"{HeadCount} heads × {headSize}");
        Check("key/value row", (long)KvHeadCount * HeadSize, $"{KvHeadCount} heads × {HeadSize}");
        var sliding = SlidingAttention;
        Check("sliding layers' key/value row", (long)sliding.KvHeads * sliding.HeadSize, $"{sliding.KvHeads} heads × {sliding.HeadSize}");
        if (PerLayerEmbeddingLength > 0)
            Check("per-layer embedding row", (long)PerLayerEmbeddingLength * BlockCount, $"{PerLayerEmbeddingLength} × {BlockCount} blocks");
        if (Ssm is { } s)
        {
            long channels = s.InnerSize + 2L * s.GroupCount * s.StateSize;
            Check("convolution's channels", channels, $"{s.InnerSize} + 2 × {s.GroupCount} groups × {s.StateSize}");
            Check("convolution's taps", s.ConvKernel * channels, $"kernel {s.ConvKernel} × {channels} channels");
            Check("input projection", 2L * s.InnerSize + 2L * s.GroupCount * s.StateSize + s.HeadCount, $"inner size {s.InnerSize}, {s.GroupCount} groups, state {s.StateSize}");
            Check("recurrent state", (long)s.HeadCount * (s.InnerSize / s.HeadCount) * s.StateSize, $"{s.HeadCount} heads × {s.InnerSize / s.HeadCount} × state {s.StateSize}");
        }
    }
}
