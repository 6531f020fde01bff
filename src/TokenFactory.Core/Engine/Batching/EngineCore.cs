using System.Diagnostics;
using System.Runtime.InteropServices;
using TokenFactory.Compute;
using TokenFactory.Kv;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Batching;

/// <summary>
/// The batching engine's step, synchronous and single-threaded (vLLM calls the same split its EngineCore): each
/// <see cref="Step"/> the <see cref="Scheduler"/> picks decode tokens and prefill chunks of many sequences,
/// <see cref="BatchForward"/> runs them with one pass over the weights over the paged KV cache, and every sequence that
/// got logits samples its next token with its own sampler; its text goes to its <see cref="ISequenceOutput"/>. The
/// token loop (end of generation, stop strings, the token budget, the final flush and summary) lives here and nowhere
/// else. <see cref="BatchingEngine"/> runs it on its own thread for concurrent callers; <c>bench model</c> and the
/// tests drive it directly, one step at a time. A steady-state decode step allocates nothing.
/// </summary>
public sealed partial class EngineCore : IDisposable, ILogitsConsumer
{
    private readonly EngineOptions _options;
    private readonly KvBlockPool _pool;
    private readonly KvBlockPool? _sliding;
    private readonly RecurrentState? _states;
    private readonly RecurrentSnapshots? _snapshots;
    private readonly BatchForward _forward;
    private readonly Scheduler _scheduler;
    private readonly StepBatch _batch;
    private readonly List<Sequence> _cancelled = [];
    private readonly int _vocab;
    private readonly Tenant _ownTenant = new("");
    private readonly MeteredPass _stepPass = new();
    private long _nextId;

    public EngineCore(TransformerModel model, EngineOptions? options = null)
    {
        _options = options ?? new EngineOptions();
        Metering = new MeterSharing(_options.EnergyMeter);
        Model = model;
        _vocab = model.VocabSize;
        Tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        // Every id the model can sample must be a token the tokenizer can spell, and every token an embedding row (llama.cpp
        // refuses such a file too): a sampled id past the tokenizer's end would fail whole steps later.
        if (Tokenizer.VocabSize != _vocab)
            throw new TokenFactoryException($"{Path.GetFileName(model.File.Path)}: the tokenizer has {Tokenizer.VocabSize} tokens but the output matrix has {_vocab} rows; they must match.");
        var c = model.Config;
        int context = _options.ResolveContextLength(c.ContextLength);
        int maxTokens = Math.Max(1, _options.MaxBatchTokens);
        int maxRunning = Math.Max(1, _options.MaxRunningSequences);
        // Hybrid models cache keys and values for their attention blocks only (at least one layer, so sizes stay positive).
        int cacheLayers = Math.Max(1, c.CacheLayerCount);
        // The budget for every cache layer: the set memory, or enough for every running sequence's context capped at 1 GiB
        // (at least one context).
        long perBlockAll = KvBlockPool.BytesPerBlock(cacheLayers, c.KvDimension);
        long bytes = _options.KvCacheMemory > 0
            ? _options.KvCacheMemory
            : Math.Max(Math.Min(EngineOptions.DefaultKvCacheCap, (long)maxRunning * context * perBlockAll / KvBlockPool.DefaultBlockSize),
                (long)context * perBlockAll / KvBlockPool.DefaultBlockSize + perBlockAll);
        // Sliding layers apart: a window's worth per running sequence plus a step's new tokens, at most half the budget, in rows
        // as wide as those layers' keys; where not even one sequence's window fits in that half, every layer stays in one pool.
        int slidingLayers = _options.SlidingWindowCache ? BatchForward.SlidingCacheLayers(c) : 0;
        if (slidingLayers > 0 && slidingLayers < cacheLayers)
        {
            int bs = KvBlockPool.DefaultBlockSize, window = Math.Min(c.SlidingWindow, context);
            int perSequence = (window - 1 + bs - 1) / bs + 2, step = (maxTokens + bs - 1) / bs;
            int slidingKv = c.AttentionOf(Enumerable.Range(0, c.BlockCount).First(c.IsSliding)).KvDimension;
            long slidingBlock = KvBlockPool.BytesPerBlock(slidingLayers, slidingKv);
            long wanted = (long)maxRunning * perSequence + step + maxRunning, affordable = bytes / 2 / slidingBlock;
            if (perSequence + step <= affordable)
            {
                _sliding = new KvBlockPool(slidingLayers, slidingKv, (int)Math.Min(int.MaxValue, Math.Min(wanted, affordable)));
                cacheLayers -= slidingLayers;
                bytes -= _sliding.BlockCount * slidingBlock;
            }
        }
        _pool = KvBlockPool.FromBudget(cacheLayers, c.KvDimension, bytes);
        // A sequence must fit the pool on its own, or it could never finish.
        ContextLength = (int)Math.Min(context, _pool.CapacityTokens);
        // One recurrent-state slot per sequence that may run (hybrid models); they come and go with the KV blocks.
        _states = c.HasRecurrentState ? new RecurrentState(c.Ssm!, c.RecurrentLayerCount, maxRunning) : null;
        _snapshots = _states != null && _options.PrefixCaching ? new RecurrentSnapshots(_states, _options.RecurrentSnapshotMemory) : null;
        _scheduler = new Scheduler(_pool, maxTokens, maxRunning, _options.PrefixCaching, states: _states, snapshots: _snapshots,
            snapshotInterval: _options.RecurrentSnapshotInterval, sliding: _sliding, window: c.SlidingWindow);
        _batch = new StepBatch(maxTokens, maxRunning);
        _forward = new BatchForward(model, _pool, ContextLength, maxTokens, maxRunning, threads: _options.Threads, states: _states, slidingCache: _sliding);
    }

    public TransformerModel Model { get; }
    public Tokenizer Tokenizer { get; }
    public EngineOptions Options => _options;

    /// <summary>The options' energy meter and the wall clock, split with the embedding passes that run beside the steps.</summary>
    public MeterSharing Metering { get; }

    /// <summary>Tokens one sequence may hold: the configured context, or less when the KV cache is smaller.</summary>
    public int ContextLength { get; }

    public int Threads => _forward.Threads;

    /// <summary>The worker threads every step runs on (a benchmark's bandwidth probe shares them).</summary>
    public ComputePool ComputePool => _forward.Pool;

    /// <summary>Bytes of the KV cache: the main pool and, for models with sliding layers, the sliding-window cache.</summary>
    public long KvCacheBytes => (long)_pool.BlockCount * KvBlockPool.BytesPerBlock(_pool.Layers, _pool.KvDimension, _pool.BlockSize)
        + (_sliding == null ? 0 : (long)_sliding.BlockCount * KvBlockPool.BytesPerBlock(_sliding.Layers, _sliding.KvDimension, _sliding.BlockSize));

    /// <summary>Recurrent-state slots (hybrid models; 0 otherwise) and how many are free: all of them once idle.</summary>
    public int StateSlots => _states?.Slots ?? 0;
    public int FreeStateSlots => _states?.FreeSlots ?? 0;

    /// <summary>Memory held for recurrent state, allocated up front: slots × Mamba blocks × (conv window + SSM state), F32.</summary>
    public long RecurrentStateBytes => _states == null ? 0 : _states.Slots * _states.BytesPerSlot;

    /// <summary>Recurrent-state snapshots kept for hybrid prefix caching, and the bytes they hold (at most the configured memory).</summary>
    public int RecurrentSnapshotCount => _snapshots?.Count ?? 0;
    public long RecurrentSnapshotBytes => _snapshots?.Bytes ?? 0;

    /// <summary>Whether prefix caching is in effect (for hybrid models only with memory for recurrent-state snapshots).</summary>
    public bool PrefixCaching => _scheduler.PrefixCaching;

    public bool HasWork => _scheduler.HasWork;

    /// <summary>
    /// Validates <paramref name="request"/> (<see cref="GenerationRequest.Validate"/>) and makes it a sequence for
    /// <see cref="Add"/>. Safe on any thread: it reads nothing the engine thread writes.
    /// </summary>
    /// <param name="group">The request it is a choice of (<see cref="WaitQueue"/>); by default a group of its own.</param>
    public Sequence CreateSequence(GenerationRequest request, ISequenceOutput output, CancellationToken cancellation = default, SequenceGroup? group = null)
    {
        Validate(request);
        return new Sequence(Interlocked.Increment(ref _nextId), request, _vocab, Tokenizer, output, cancellation, group ?? SequenceGroup.Single(_ownTenant), _pool.BlockSize);
    }

    /// <summary>Checks a request against this engine's context and vocabulary (<see cref="GenerationRequest.Validate"/>). Any thread.</summary>
    public void Validate(GenerationRequest request) => request.Validate(ContextLength, Model.Weights.TokenEmbedding.Rows);

    /// <summary>Queues a sequence; it joins the next step that has room for it. Engine thread only.</summary>
    public void Add(Sequence sequence) => _scheduler.Add(sequence);

    /// <summary>
    /// Drops cancelled sequences, then runs one step if any sequence has work. Returns false when there was none.
    /// Engine thread only.
    /// </summary>
    public bool Step()
    {
        _cancelled.Clear();
        _scheduler.RemoveCancelled(_cancelled);
        for (int i = 0; i < _cancelled.Count; i++)
        {
            var s = _cancelled[i];
            if (s.Group.IsDisplaced)
                Fail(s, s.Group.Rejection!, alreadyRemoved: true); // gave its place in the queue to another caller's request
            else
                End(s, FinishReason.Cancelled, alreadyRemoved: true);
        }
        if (!_scheduler.HasWork)
        {
            RanNothing = false;
            Publish();
            return false;
        }
        RunStep();
        RanNothing = _batch.TokenCount == 0;
        Publish();
        return true;
    }

    /// <summary>
    /// Whether the last <see cref="Step"/> had work but planned no token: every running sequence's reader was behind
    /// (<see cref="ISequenceOutput.WaitsForReader"/>) and no waiting one could start. A loop should wait a little before the next.
    /// </summary>
    public bool RanNothing { get; private set; }

    /// <summary>Steps that planned no token (<see cref="RanNothing"/>), which <see cref="EngineCounters.Steps"/> leaves out: for tests of the loop's waiting.</summary>
    internal long EmptySteps => Volatile.Read(ref _emptySteps);

    private long _emptySteps;

    /// <summary>
    /// Fails every sequence, waiting or running, with <paramref name="error"/>: a step broke outside the model's forward
    /// pass (a bug), so no sequence's state can be trusted, but the engine thread lives on for the next requests.
    /// </summary>
    public void FailAll(Exception error)
    {
        foreach (var s in _scheduler.Running.Concat(_scheduler.Waiting).ToList())
        {
            try
            {
                Fail(s, error);
            }
            catch (Exception)
            {
                s.Output.Failed(error); // the scheduler's books may be what broke: the caller hears either way
            }
        }
        Publish();
    }

    /// <summary>Ends every sequence, waiting or running, as cancelled (the engine is shutting down). Engine thread only.</summary>
    public void CancelAll()
    {
        foreach (var s in _scheduler.Running.Concat(_scheduler.Waiting).ToList())
            End(s, FinishReason.Cancelled);
        Publish();
    }

    private void RunStep()
    {
        _scheduler.Schedule(_batch);
        var planned = _scheduler.Planned;
        int stepPrefill = 0, stepDecode = 0;
        for (int i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            var s = p.Sequence;
            LeaveQueue(s);
            p.IsDecode = p.TokenCount == 1 && s.GeneratedCount > 0 && s.UncomputedCount == 1;
            if (p.IsDecode)
                stepDecode++;
            else
                stepPrefill += p.TokenCount;
        }
        if (_batch.TokenCount == 0)
        {
            Volatile.Write(ref _emptySteps, _emptySteps + 1); // every sequence waited for its reader: not a step of the model
            return;
        }
        _decodeTokens += stepDecode;
        _prefillTokens += stepPrefill;
        Volatile.Write(ref _steps, _steps + 1);
        _scheduledSequences += planned.Count;
        Metering.Begin(_stepPass);
        long started = Stopwatch.GetTimestamp();
        try
        {
            _forward.Run(_batch, this);
        }
        catch (Exception e)
        {
            Metering.End(_stepPass);
            // Finishing never changes the plan, so it can be walked while sequences leave.
            for (int i = 0; i < planned.Count; i++)
                Fail(planned[i].Sequence, e);
            return;
        }
        long ended = Stopwatch.GetTimestamp();
        var (chargedSeconds, joules) = Metering.End(_stepPass);
        Volatile.Write(ref _busyTicks, _busyTicks + (ended - started));
        double seconds = Stopwatch.GetElapsedTime(started, ended).TotalSeconds;
        // Charged: the step's share of the machine (less than its wall time while an embedding pass ran beside it); the rates
        // below stay in wall time, since that is how fast the step went.
        ShareStep(planned, chargedSeconds, joules);
        MeasureRates(stepPrefill, stepDecode, seconds);
        _scheduler.Complete();
        for (int i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            var s = p.Sequence;
            if (p.Failure is { } failure)
                Fail(s, failure);
            else if (p.SampledToken >= 0)
                Accept(s, p);
            else if (s.ConstraintExhausted)
                End(s, FinishReason.Length);
            else if (s.UncomputedCount == 0 && s.GeneratedCount >= s.Request.MaxTokens)
                End(s, FinishReason.Length);
        }
    }

    /// <summary>
    /// Divides a step's wall time and energy among its sequences by the tokens each ran: a step's cost grows
    /// with its token count (every token is a row of every matrix product), so tokens are the fair unit.
    /// </summary>
    private void ShareStep(IReadOnlyList<ScheduledSequence> planned, double seconds, double joules)
    {
        double perToken = 1.0 / _batch.TokenCount;
        for (int i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            double share = p.TokenCount * perToken;
            var w = p.Sequence.Work;
            p.Sequence.Work = p.IsDecode
                ? w with { DecodeSeconds = w.DecodeSeconds + seconds * share, DecodeJoules = w.DecodeJoules + joules * share }
                : w with { PrefillSeconds = w.PrefillSeconds + seconds * share, PrefillJoules = w.PrefillJoules + joules * share };
        }
    }

    void ILogitsConsumer.Consume(int firstRow, int count, float[] logits)
    {
        var planned = _scheduler.Planned;
        for (int i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            if (p.Failure is not null)
                continue; // failed on an earlier block of rows this step
            try
            {
                ConsumeRows(p, firstRow, count, logits);
            }
            catch (Exception e)
            {
                // One sequence's sampling going wrong (a sampler bug, bad logits) fails that sequence, not the whole step's batch.
                p.Failure = e;
                p.SampledToken = -1;
            }
        }
    }

    private void ConsumeRows(ScheduledSequence p, int firstRow, int count, float[] logits)
    {
        var s = p.Sequence;
        for (int j = 0; j < p.LogitRowCount; j++)
        {
            int row = p.FirstLogitRow + j;
            if (row < firstRow || row >= firstRow + count)
                continue;
            var span = logits.AsSpan((row - firstRow) * _vocab, _vocab);
            int position = p.FirstLogitPosition + j;
            if (position < s.Tokens.Count - 1)
            {
                // Echoed prompt: this row predicts the prompt token after it.
                s.PromptLogprobs!.Add(LogprobCalculator.Compute(span, s.Tokens[position + 1], s.Request.Logprobs ?? 0, Tokenizer));
            }
            else if (s.GeneratedCount < s.Request.MaxTokens)
            {
                p.SampledToken = s.Matcher is null ? s.Sampler.Sample(span) : SampleConstrained(s, span);
                // Nothing sampled (a grammar no token can continue): the sequence ends at its valid prefix, without a logprob.
                if (p.SampledToken >= 0 && s.Request.Logprobs is int n)
                    (p.Logprob, p.TopLogprobs) = LogprobCalculator.Compute(span, p.SampledToken, n, Tokenizer);
            }
        }
    }

    /// <summary>
    /// Structured output: sample as usual, and keep the token if the schema allows it (most steps: one token checked).
    /// Otherwise mask every token it does not allow and sample again from the same logits — llama.cpp's order for
    /// grammars, which costs a vocabulary-wide mask only when the model strays.
    /// </summary>
    private int SampleConstrained(Sequence s, ReadOnlySpan<float> logits)
    {
        int token = s.Sampler.Sample(logits);
        // The state after the drawn token is kept for Accept, which would otherwise parse the same bytes again.
        if ((s.NextMatcher = Masker.Advance(s.Matcher!, token)) is not null)
            return token;
        var masked = (_maskScratch ??= new float[_vocab]).AsSpan(0, logits.Length);
        logits.CopyTo(masked);
        if (Masker.Mask(s.Matcher!, masked) == 0)
        {
            // No token of this vocabulary can spell what the grammar needs next: the answer ends as the valid prefix it is.
            s.ConstraintExhausted = true;
            return -1;
        }
        token = s.Sampler.Sample(masked);
        s.NextMatcher = Masker.Advance(s.Matcher!, token);
        return token;
    }

    private float[]? _maskScratch;

    /// <summary>The tokenizer's masker, looked up once (structured output asks for it every token).</summary>
    private Constraints.TokenMasker Masker => _masker ??= Constraints.TokenMasker.For(Tokenizer);

    private Constraints.TokenMasker? _masker;

    /// <summary>Appends a sampled token and streams its text; ends the sequence on a stop or at its length.</summary>
    private void Accept(Sequence s, ScheduledSequence p)
    {
        int next = p.SampledToken;
        bool free = s.Matcher is null;
        if (s.Matcher is not null)
        {
            // Sampling only draws allowed tokens; were one refused anyway, the answer must still never leave the grammar.
            if (s.NextMatcher is not { } advanced)
            {
                End(s, FinishReason.Length);
                return;
            }
            s.Matcher = advanced;
            s.NextMatcher = null;
        }
        s.Tokens.Add(next);
        s.Sampler.Accept(next);
        s.FirstTokenTime ??= s.Clock.Elapsed;
        if (!s.Request.IgnoreEndOfGeneration && Tokenizer.IsEndOfGeneration(next))
        {
            s.Output.Token(next, s.Text.Finish(), p.Logprob, p.TopLogprobs);
            End(s, FinishReason.Stop);
            return;
        }
        s.Output.Token(next, s.Text.Append(next), p.Logprob, p.TopLogprobs);
        if (s.Text.Stopped)
        {
            End(s, FinishReason.Stop);
            return;
        }
        if (s.Matcher is { MustEnd: true })
        {
            if (s.TriggerWindow is null)
            {
                // The JSON value is closed: nothing may follow, so stop now instead of spending a step on end-of-generation.
                var rest = s.Text.Finish();
                if (!rest.IsEmpty)
                    s.Output.Text(rest);
                End(s, FinishReason.Stop);
                return;
            }
            s.Matcher = null; // the triggered part (a call) is complete: free text again, watched for the next trigger
        }
        if (s.GeneratedCount >= s.Request.MaxTokens || s.Tokens.Count >= ContextLength)
            End(s, FinishReason.Length);
        else if (free && s.TriggerWindow is not null)
            Watch(s, next);
    }

    /// <summary>
    /// A free token of a sequence with a triggered schema: once the output shows the trigger, the schema applies from the
    /// trigger on (its bytes and the rest of this token are the schema's first). Where what the model wrote with the trigger
    /// already leaves the schema, that part of the answer stays free (it is read as it is).
    /// </summary>
    private void Watch(Sequence s, int token)
    {
        var triggered = s.Request.TriggeredSchema!;
        var window = s.TriggerWindow!;
        if (s.TriggerClosed)
            return;
        window.AddRange(Tokenizer.PieceSpan(token, special: true));
        if (s.TriggerReasoning != ReasoningWatch.Done && !PastReasoning(s, triggered.Reasoning!, window))
            return;
        var trigger = triggered.TriggerBytes;
        int at;
        if (triggered.AtStart)
        {
            int first = 0;
            while (first < window.Count && window[first] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
                first++;
            var text = CollectionsMarshal.AsSpan(window)[first..];
            if (text.Length < trigger.Length)
            {
                if (!trigger.AsSpan().StartsWith(text))
                    s.TriggerClosed = true; // the answer began with something else: no call can start it now
                return;
            }
            if (!text.StartsWith(trigger))
            {
                s.TriggerClosed = true;
                return;
            }
            at = first;
        }
        else
        {
            at = CollectionsMarshal.AsSpan(window).IndexOf(trigger);
            if (at < 0)
            {
                // Keep only what could still be the start of a trigger split over tokens.
                int keep = Math.Min(window.Count, trigger.Length - 1);
                window.RemoveRange(0, window.Count - keep);
                return;
            }
        }
        var matcher = Constraints.JsonMatcher.Start(triggered.Schema).Advance(CollectionsMarshal.AsSpan(window)[at..]);
        window.Clear();
        if (triggered.AtStart)
            s.TriggerClosed = true; // one answer-wide call at most
        if (matcher is { MustEnd: false })
            s.Matcher = matcher;
    }

    /// <summary>
    /// Moves the watch past the reasoning block: whether <paramref name="window"/> now holds only output after it (or the
    /// output opened none). Inside the block only a closing tag split over tokens is kept; what follows the tag stays in the
    /// window for the trigger. An output may open a block only at its start (whitespace aside).
    /// </summary>
    private static bool PastReasoning(Sequence s, ReasoningBlock block, List<byte> window)
    {
        var bytes = CollectionsMarshal.AsSpan(window);
        if (s.TriggerReasoning == ReasoningWatch.MayOpen)
        {
            var text = bytes.TrimStart(" \n\r\t"u8);
            var open = block.OpenBytes;
            if (text.Length < open.Length && open.AsSpan().StartsWith(text))
                return false; // still possibly the opening tag
            if (!text.StartsWith(open))
            {
                s.TriggerReasoning = ReasoningWatch.Done; // the answer starts without thinking
                return true;
            }
            window.RemoveRange(0, bytes.Length - text.Length + open.Length);
            s.TriggerReasoning = ReasoningWatch.Inside;
            bytes = CollectionsMarshal.AsSpan(window);
        }
        var close = block.CloseBytes;
        int at = bytes.IndexOf(close);
        if (at < 0)
        {
            int keep = Math.Min(window.Count, close.Length - 1);
            window.RemoveRange(0, window.Count - keep);
            return false;
        }
        window.RemoveRange(0, at + close.Length);
        s.TriggerReasoning = ReasoningWatch.Done;
        return true;
    }

    private void End(Sequence s, FinishReason reason, bool alreadyRemoved = false)
    {
        if (!alreadyRemoved)
            _scheduler.Finish(s);
        LeaveQueue(s);
        if (!s.Admitted)
            s.Group.EndWaiting();
        if (reason == FinishReason.Length)
        {
            var rest = s.Text.Finish();
            if (!rest.IsEmpty)
                s.Output.Text(rest);
        }
        var elapsed = s.Clock.Elapsed;
        // A request cancelled before it started computed no prompt: nothing of it is reported (or charged); one cancelled
        // part way through its prompt, the part that reached the cache.
        int promptTokens = !s.Admitted ? 0 : reason == FinishReason.Cancelled ? s.PromptReached : s.PromptCount;
        s.Output.Finished(new GenerationSummary
        {
            FinishReason = reason,
            PromptTokens = promptTokens,
            CompletionTokens = s.GeneratedCount,
            CachedPromptTokens = Math.Min(s.CachedPromptTokens, promptTokens),
            MatchedStop = s.Text.MatchedStop,
            QueueTime = s.Admitted ? s.QueueTime : elapsed,
            TimeToFirstToken = s.FirstTokenTime ?? elapsed,
            TotalTime = elapsed,
            PromptLogprobs = s.PromptLogprobs,
            Work = s.Work,
        });
        if (reason == FinishReason.Cancelled)
            Interlocked.Increment(ref _cancelledCount);
        else
            Interlocked.Increment(ref _finished);
    }

    private void Fail(Sequence s, Exception e, bool alreadyRemoved = false)
    {
        if (!alreadyRemoved)
            _scheduler.Finish(s);
        LeaveQueue(s);
        if (!s.Admitted)
            s.Group.EndWaiting();
        s.Output.Failed(e);
        Interlocked.Increment(ref _failed);
    }

    public void Dispose() => _forward.Dispose();
}
