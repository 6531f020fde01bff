using System.Diagnostics;
using TokenFactory.Kv;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Batching;

public enum SequenceStatus
{
    Waiting,
    Running,
    Finished,
}

/// <summary>
/// One request inside the batching engine: its tokens (prompt, then generated), how many of them the
/// KV cache holds, its block table, and its own sampler, generated text (decoder and stop strings) and
/// output. Touched only by the engine thread, except <see cref="Abandon"/>.
/// </summary>
/// <remarks>
/// The token list and block table are sized for the whole request up front, so a decode step never grows them.
/// </remarks>
public sealed class Sequence
{
    private volatile bool _abandoned;

    /// <param name="request">Already validated (<see cref="GenerationRequest.Validate"/>).</param>
    /// <param name="group">The request it is a choice of; choices start, wait and are counted together.</param>
    public Sequence(long id, GenerationRequest request, int vocabSize, Tokenizer tokenizer, ISequenceOutput output, CancellationToken cancellation, SequenceGroup group,
        int blockSize = KvBlockPool.DefaultBlockSize)
    {
        Id = id;
        Group = group;
        Request = request;
        Output = output;
        Cancellation = cancellation;
        int total = request.PromptTokens.Count + request.MaxTokens;
        Tokens = new List<int>(total);
        Tokens.AddRange(request.PromptTokens);
        Blocks = new List<int>((total + blockSize - 1) / blockSize);
        PromptCount = Tokens.Count;
        Sampler = new Sampler(request.Sampling, vocabSize);
        foreach (int t in Tokens)
            Sampler.Accept(t);
        Text = new GeneratedText(tokenizer, request.Stop);
        if (request.OutputSchema is { } schema)
            Matcher = Constraints.JsonMatcher.Start(schema);
        if (request.TriggeredSchema is { } triggered)
        {
            TriggerWindow = [];
            // Not yet known whether the output opens a block of its own: watched for its opening tag first.
            TriggerReasoning = triggered.Reasoning is not { } r ? ReasoningWatch.Done : r.StartsInside ? ReasoningWatch.Inside : ReasoningWatch.MayOpen;
        }
        if (request.EchoLogprobs)
            PromptLogprobs = [(null, null)];
    }

    public long Id { get; }
    public SequenceGroup Group { get; }
    public GenerationRequest Request { get; }
    public CancellationToken Cancellation { get; }
    public Stopwatch Clock { get; } = Stopwatch.StartNew();
    public ISequenceOutput Output { get; }

    public SequenceStatus Status { get; set; } = SequenceStatus.Waiting;

    /// <summary>Prompt followed by generated tokens.</summary>
    public List<int> Tokens { get; }
    public int PromptCount { get; }
    public int GeneratedCount => Tokens.Count - PromptCount;

    /// <summary>Leading tokens whose keys and values are in the cache.</summary>
    public int ComputedCount { get; set; }

    /// <summary>
    /// The most prompt positions ever in the cache (computed, or taken from the prefix cache), kept through a preemption:
    /// what a request cancelled before its prompt was done is charged for, not the prompt it never finished.
    /// </summary>
    public int PromptReached { get; private set; }

    /// <summary>Raises <see cref="PromptReached"/> to the cache's current extent.</summary>
    public void NotePromptReached() => PromptReached = Math.Max(PromptReached, Math.Min(ComputedCount, PromptCount));
    public int UncomputedCount => Tokens.Count - ComputedCount;

    /// <summary>Block ids holding positions 0.. in order.</summary>
    public List<int> Blocks { get; }

    /// <summary>
    /// Its blocks in the sliding-window cache (when the engine keeps sliding layers apart), one per entry of <see cref="Blocks"/>;
    /// those wholly behind the window are released and -1.
    /// </summary>
    public List<int> SlidingBlocks { get; } = [];

    /// <summary>The sequence's recurrent-state slot while it runs on a hybrid model (with its blocks), else -1.</summary>
    public int StateSlot { get; set; } = -1;

    /// <summary>Leading blocks registered in (or found in) the prefix cache, and the chain hash of the last.</summary>
    public int HashedBlocks { get; set; }
    public ulong LastHash { get; set; } = BlockHash.Root;
    /// <summary>Hybrid models: the prompt position where its shared cached blocks ran out, to save the recurrent state at (0: none).</summary>
    public int SnapshotBranch { get; set; }

    private ulong[]? _promptBlockHashes;

    /// <summary>
    /// The chained hashes of the prompt's full blocks, as the prefix cache names them: computed once, the first time the
    /// scheduler compares this prompt with another (a waiting request against those being computed).
    /// </summary>
    public ReadOnlySpan<ulong> PromptBlockHashes(int blockSize)
    {
        if (_promptBlockHashes is null)
        {
            var tokens = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Tokens)[..PromptCount];
            var hashes = new ulong[PromptCount / blockSize];
            ulong hash = BlockHash.Root;
            for (int b = 0; b < hashes.Length; b++)
                hashes[b] = hash = BlockHash.Chain(hash, tokens.Slice(b * blockSize, blockSize));
            _promptBlockHashes = hashes;
        }
        return _promptBlockHashes;
    }

    public Sampler Sampler { get; }
    /// <summary>Where the output stands in the JSON its schema allows; null for free text.</summary>
    public Constraints.JsonMatcher? Matcher { get; set; }
    /// <summary>The matcher after the token just sampled (set with it, taken by Accept).</summary>
    public Constraints.JsonMatcher? NextMatcher { get; set; }
    /// <summary>The generated bytes since the triggered schema last applied (or since the start), watched for its trigger.</summary>
    public List<byte>? TriggerWindow { get; }
    /// <summary>A start-only trigger can no longer occur (the answer began otherwise, or its call was made).</summary>
    public bool TriggerClosed { get; set; }
    /// <summary>Where the watched output stands with the model's reasoning block (<see cref="TriggeredSchema.Reasoning"/>).</summary>
    public ReasoningWatch TriggerReasoning { get; set; }
    /// <summary>The grammar allowed no token of the vocabulary: the sequence ends with what it has.</summary>
    public bool ConstraintExhausted { get; set; }
    public GeneratedText Text { get; }
    public List<(float? Logprob, TokenLogprob[]? Top)>? PromptLogprobs { get; }

    /// <summary>Prompt tokens served from the cache at first admission.</summary>
    public int CachedPromptTokens { get; set; }
    public bool Admitted { get; set; }
    /// <summary>Engine bookkeeping: no longer counted against the bounded wait queue.</summary>
    public bool LeftQueue { get; set; }
    public int Preemptions { get; set; }
    /// <summary>Of <see cref="Preemptions"/>, those that gave this sequence's slot to higher-class work (not for want of blocks).</summary>
    public int SlotYields { get; set; }
    public TimeSpan QueueTime { get; set; }
    public TimeSpan? FirstTokenTime { get; set; }
    /// <summary>Engine time and energy charged to this sequence so far.</summary>
    public WorkShare Work { get; set; }

    /// <summary>Whether the next step should give logits for each prompt position (echo + logprobs, not yet recorded).</summary>
    public bool WantsPromptLogits => PromptLogprobs != null && PromptLogprobs.Count < PromptCount;

    /// <summary>The reader went away without cancelling (e.g. stopped enumerating); treated as a cancellation.</summary>
    public void Abandon() => _abandoned = true;

    /// <summary>Cancelled by its caller, abandoned by its reader, or displaced from the wait queue with its group.</summary>
    public bool IsCancelled => _abandoned || Cancellation.IsCancellationRequested || Group.IsDisplaced || Group.HasEndedWaiting;
}

/// <summary>The trigger watcher and the reasoning block: the output may still open one, is inside one, or is past it (or has none).</summary>
public enum ReasoningWatch
{
    Done,
    MayOpen,
    Inside,
}
