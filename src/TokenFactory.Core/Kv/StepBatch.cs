namespace TokenFactory.Kv;

/// <summary>
/// The tokens one engine step runs through the model: decode tokens and prefill chunks of several
/// sequences, flattened. Each token knows its position and its sequence's block table; rows listed in
/// <see cref="LogitRows"/> get logits. Arrays are sized once; building a step allocates nothing.
/// </summary>
public sealed class StepBatch
{
    public StepBatch(int maxTokens, int maxSequences)
    {
        MaxTokens = maxTokens;
        MaxSequences = maxSequences;
        Tokens = new int[maxTokens];
        Positions = new int[maxTokens];
        TokenSequence = new int[maxTokens];
        LogitRows = new int[maxTokens];
        BlockTables = new List<int>[maxSequences];
        SlidingBlockTables = new List<int>[maxSequences];
        StateSlots = new int[maxSequences];
    }

    public int MaxTokens { get; }
    public int MaxSequences { get; }

    public int TokenCount { get; private set; }
    public int SequenceCount { get; private set; }
    public int LogitRowCount { get; private set; }

    public int[] Tokens { get; }
    public int[] Positions { get; }
    /// <summary>Per token: index into <see cref="BlockTables"/>.</summary>
    public int[] TokenSequence { get; }
    /// <summary>Per sequence of the step: its block ids, position p living in block p / blockSize.</summary>
    public List<int>[] BlockTables { get; }
    /// <summary>
    /// Per sequence of the step: its block ids in the sliding-window cache (sliding layers' keys and values, when the engine
    /// keeps them apart), indexed as <see cref="BlockTables"/>; blocks that fell out of the window are -1. Null entries otherwise.
    /// </summary>
    public List<int>[] SlidingBlockTables { get; }
    /// <summary>Per sequence of the step: its recurrent-state slot (hybrid models), or -1.</summary>
    public int[] StateSlots { get; }
    /// <summary>Token indices whose logits are wanted, in order; logits row i belongs to token LogitRows[i].</summary>
    public int[] LogitRows { get; }

    public void Clear()
    {
        TokenCount = SequenceCount = LogitRowCount = 0;
        Array.Clear(BlockTables);
        Array.Clear(SlidingBlockTables);
    }

    /// <summary>Starts a sequence's share of the step; returns its index.</summary>
    public int AddSequence(List<int> blockTable, int stateSlot = -1, List<int>? slidingBlockTable = null)
    {
        if (SequenceCount == MaxSequences)
            throw new InvalidOperationException("Step batch is full (sequences).");
        BlockTables[SequenceCount] = blockTable;
        SlidingBlockTables[SequenceCount] = slidingBlockTable!;
        StateSlots[SequenceCount] = stateSlot;
        return SequenceCount++;
    }

    /// <summary>Adds a token of sequence <paramref name="sequence"/>; returns its logits row, or -1.</summary>
    public int AddToken(int sequence, int token, int position, bool wantLogits)
    {
        if (TokenCount == MaxTokens)
            throw new InvalidOperationException("Step batch is full (tokens).");
        int t = TokenCount++;
        Tokens[t] = token;
        Positions[t] = position;
        TokenSequence[t] = sequence;
        if (!wantLogits)
            return -1;
        LogitRows[LogitRowCount] = t;
        return LogitRowCount++;
    }
}
