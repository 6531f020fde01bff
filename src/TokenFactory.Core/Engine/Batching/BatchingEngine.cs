using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using TokenFactory.Chat;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Batching;

/// <summary>
/// Continuous batching: one engine thread loops model steps while there is work. Each step the
/// <see cref="Scheduler"/> picks decode tokens and prefill chunks of many sequences, <see cref="BatchForward"/>
/// runs them with one pass over the weights, and every sequence that got logits samples its next token
/// with its own sampler. Requests join at the next step and leave the moment they finish or are
/// cancelled, releasing their KV blocks at once.
/// </summary>
public sealed class BatchingEngine : IInferenceEngine, ILogitsConsumer
{
    private readonly EngineOptions _options;
    private readonly KvBlockPool _pool;
    private readonly RecurrentState? _states;
    private readonly BatchForward _forward;
    private readonly Scheduler _scheduler;
    private readonly StepBatch _batch;
    private readonly ConcurrentQueue<Sequence> _submissions = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly List<Sequence> _cancelled = [];
    private readonly Thread _thread;
    private readonly int _vocab;
    private volatile bool _disposed;
    private long _nextId;
    private int _queued;
    private int _running, _preemptedWaiting;
    private long _steps, _scheduledSequences, _prefillTokens, _decodeTokens, _finished, _cancelledCount, _failed;

    public BatchingEngine(TransformerModel model, EngineOptions? options = null)
    {
        _options = options ?? new EngineOptions();
        Model = model;
        _vocab = model.VocabSize;
        Tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        (ChatTemplate, HasOwnChatTemplate) = ChatTemplates.ForModel(model.File.Metadata, Tokenizer);
        var c = model.Config;
        int context = _options.ResolveContextLength(c.ContextLength);
        // Hybrid models cache keys and values for their attention blocks only (at least one layer, so sizes stay positive).
        int cacheLayers = Math.Max(1, c.CacheLayerCount);
        long perBlock = KvBlockPool.BytesPerBlock(cacheLayers, c.KvDimension);
        long bytes = _options.KvCacheMemory > 0
            ? _options.KvCacheMemory
            : Math.Max(Math.Min(EngineOptions.DefaultKvCacheCap, (long)_options.MaxRunningSequences * context * perBlock / KvBlockPool.DefaultBlockSize),
                (long)context * perBlock / KvBlockPool.DefaultBlockSize + perBlock);
        _pool = KvBlockPool.FromBudget(cacheLayers, c.KvDimension, bytes);
        // A sequence must fit the pool on its own, or it could never finish.
        ContextLength = (int)Math.Min(context, _pool.CapacityTokens);
        int maxTokens = Math.Max(1, _options.MaxBatchTokens);
        int maxRunning = Math.Max(1, _options.MaxRunningSequences);
        // One recurrent-state slot per sequence that may run (hybrid models); they come and go with the KV blocks.
        _states = c.HasRecurrentState ? new RecurrentState(c.Ssm!, c.MambaLayerCount, maxRunning) : null;
        _scheduler = new Scheduler(_pool, maxTokens, maxRunning, _options.PrefixCaching, states: _states);
        _batch = new StepBatch(maxTokens, maxRunning);
        _forward = new BatchForward(model, _pool, ContextLength, maxTokens, maxRunning, threads: _options.Threads, states: _states);
        _thread = new Thread(Loop) { IsBackground = true, Name = "tokenfactory-batching-engine" };
        _thread.Start();
    }

    public TransformerModel Model { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public bool HasOwnChatTemplate { get; }
    public int ContextLength { get; }
    public int Threads => _forward.Threads;
    public long KvCacheBytes => (long)_pool.BlockCount * KvBlockPool.BytesPerBlock(_pool.Layers, _pool.KvDimension, _pool.BlockSize);

    public EngineLoad Load => new(
        Volatile.Read(ref _running),
        Volatile.Read(ref _queued) + Volatile.Read(ref _preemptedWaiting),
        (long)(_pool.BlockCount - _pool.FreeBlockCount) * _pool.BlockSize,
        _pool.CapacityTokens);

    public EngineCounters Counters => new()
    {
        Steps = Volatile.Read(ref _steps),
        ScheduledSequences = Volatile.Read(ref _scheduledSequences),
        PrefillTokens = Volatile.Read(ref _prefillTokens),
        DecodeTokens = Volatile.Read(ref _decodeTokens),
        PrefixCacheQueryTokens = _scheduler.PrefixQueryTokens,
        PrefixCacheHitTokens = _scheduler.PrefixHitTokens,
        Preemptions = _scheduler.Preemptions,
        RequestsFinished = Volatile.Read(ref _finished),
        RequestsCancelled = Volatile.Read(ref _cancelledCount),
        RequestsFailed = Volatile.Read(ref _failed),
        KvBlocksTotal = _pool.BlockCount,
        KvBlocksFree = _pool.FreeBlockCount,
        KvBlocksCached = _pool.CachedBlockCount,
        KvBlockSize = _pool.BlockSize,
    };

    /// <summary>Recurrent-state slots (hybrid models; 0 otherwise) and how many are free: all of them once idle.</summary>
    public int StateSlots => _states?.Slots ?? 0;
    public int FreeStateSlots => _states?.FreeSlots ?? 0;

    /// <summary>Memory held for recurrent state, allocated up front: slots × Mamba blocks × (conv window + SSM state), F32.</summary>
    public long RecurrentStateBytes => _states == null ? 0 : _states.Slots * _states.BytesPerSlot;

    /// <summary>Whether prefix caching is in effect (off for hybrid models, whose recurrent state a cached prefix cannot restore).</summary>
    public bool PrefixCaching => _scheduler.PrefixCaching;

    /// <summary>Free blocks once idle must equal the total: for tests of leaks. Call only while idle.</summary>
    public bool IsIdle => Volatile.Read(ref _queued) == 0 && Volatile.Read(ref _running) == 0 && _submissions.IsEmpty;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        request.Sampling.Validate();
        var prompt = request.PromptTokens;
        if (prompt.Count == 0)
            throw new TokenFactoryException("The prompt is empty: at least one token is needed.");
        if (request.MaxTokens < 0)
            throw new ArgumentException("max_tokens must be >= 0", "max_tokens");
        if (prompt.Count + request.MaxTokens > ContextLength)
            throw new ContextLengthExceededException(prompt.Count, request.MaxTokens, ContextLength);
        foreach (int t in prompt)
        {
            if ((uint)t >= (uint)Model.Weights.TokenEmbedding.Rows)
                throw new TokenFactoryException($"Token id {t} is outside the vocabulary (0..{Model.Weights.TokenEmbedding.Rows - 1}).");
        }
        if (Interlocked.Increment(ref _queued) > _options.MaxWaitingRequests)
        {
            int waiting = Interlocked.Decrement(ref _queued);
            throw new EngineOverloadedException(waiting, _options.RetryAfter);
        }
        var sequence = new Sequence(Interlocked.Increment(ref _nextId), request, _vocab, Tokenizer, cancellation);
        _submissions.Enqueue(sequence);
        _signal.Release();
        try
        {
            await foreach (var update in sequence.Output.Reader.ReadAllAsync(CancellationToken.None))
                yield return update;
        }
        finally
        {
            // Stopped reading early (or finished): either way the engine may drop it.
            sequence.Abandon();
        }
    }

    private void Loop()
    {
        while (true)
        {
            while (_submissions.TryDequeue(out var s))
                _scheduler.Add(s);
            if (_disposed)
            {
                foreach (var s in _scheduler.Running.Concat(_scheduler.Waiting).ToList())
                    End(s, FinishReason.Cancelled);
                Publish();
                return;
            }
            _cancelled.Clear();
            _scheduler.RemoveCancelled(_cancelled);
            foreach (var s in _cancelled)
                End(s, FinishReason.Cancelled, alreadyRemoved: true);
            if (!_scheduler.HasWork)
            {
                Publish();
                _signal.Wait();
                continue;
            }
            Step();
            Publish();
        }
    }

    private void Step()
    {
        _scheduler.Schedule(_batch);
        var planned = _scheduler.Planned;
        foreach (var p in planned)
        {
            var s = p.Sequence;
            if (!s.LeftQueue)
            {
                s.LeftQueue = true;
                Interlocked.Decrement(ref _queued);
            }
            p.IsDecode = p.TokenCount == 1 && s.GeneratedCount > 0 && s.UncomputedCount == 1;
            if (p.IsDecode)
                _decodeTokens++;
            else
                _prefillTokens += p.TokenCount;
        }
        _steps++;
        _scheduledSequences += planned.Count;
        if (_batch.TokenCount == 0)
            return;
        var meter = _options.EnergyMeter;
        double joulesBefore = meter?.ReadJoules() ?? 0;
        long started = Stopwatch.GetTimestamp();
        try
        {
            _forward.Run(_batch, this);
        }
        catch (Exception e)
        {
            // Finishing never changes the plan, so it can be walked while sequences leave.
            foreach (var p in planned)
                Fail(p.Sequence, e);
            return;
        }
        ShareStep(planned, Stopwatch.GetElapsedTime(started).TotalSeconds, meter is null ? 0 : Math.Max(0, meter.ReadJoules() - joulesBefore));
        _scheduler.Complete();
        foreach (var p in planned)
        {
            var s = p.Sequence;
            if (p.SampledToken >= 0)
                Accept(s, p);
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
        foreach (var p in planned)
        {
            double share = p.TokenCount * perToken;
            var w = p.Sequence.Work;
            p.Sequence.Work = p.IsDecode
                ? w with { DecodeSeconds = w.DecodeSeconds + seconds * share, DecodeJoules = w.DecodeJoules + joules * share }
                : w with { PrefillSeconds = w.PrefillSeconds + seconds * share, PrefillJoules = w.PrefillJoules + joules * share };
        }
    }

    void ILogitsConsumer.Consume(int firstRow, int count, float[] logits)
    {
        foreach (var p in _scheduler.Planned)
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
                    p.SampledToken = s.Sampler.Sample(span);
                    if (s.Request.Logprobs is int n)
                        (p.Logprob, p.TopLogprobs) = LogprobCalculator.Compute(span, p.SampledToken, n, Tokenizer);
                }
            }
        }
    }

    /// <summary>Appends a sampled token and streams its text; ends the sequence on a stop or at its length.</summary>
    private void Accept(Sequence s, ScheduledSequence p)
    {
        int next = p.SampledToken;
        s.Tokens.Add(next);
        s.Sampler.Accept(next);
        s.FirstTokenTime ??= s.Clock.Elapsed;
        var output = s.Output.Writer;
        if (!s.Request.IgnoreEndOfGeneration && Tokenizer.IsEndOfGeneration(next))
        {
            string tail = s.Stops.Push(s.Decoder.Flush()) + s.Stops.Flush();
            output.TryWrite(new GenerationUpdate { Token = next, Text = tail, Logprob = p.Logprob, TopLogprobs = p.TopLogprobs });
            End(s, FinishReason.Stop);
            return;
        }
        string piece = s.Stops.Push(s.Decoder.Append(next));
        output.TryWrite(new GenerationUpdate { Token = next, Text = piece, Logprob = p.Logprob, TopLogprobs = p.TopLogprobs });
        if (s.Stops.Stopped)
            End(s, FinishReason.Stop);
        else if (s.GeneratedCount >= s.Request.MaxTokens || s.Tokens.Count >= ContextLength)
            End(s, FinishReason.Length);
    }

    private void End(Sequence s, FinishReason reason, bool alreadyRemoved = false)
    {
        if (!alreadyRemoved)
            _scheduler.Finish(s);
        if (!s.LeftQueue)
        {
            s.LeftQueue = true;
            Interlocked.Decrement(ref _queued);
        }
        var output = s.Output.Writer;
        if (reason == FinishReason.Length)
        {
            string rest = s.Stops.Push(s.Decoder.Flush()) + s.Stops.Flush();
            if (rest.Length > 0)
                output.TryWrite(new GenerationUpdate { Text = rest });
        }
        var elapsed = s.Clock.Elapsed;
        output.TryWrite(new GenerationUpdate
        {
            Final = new GenerationSummary
            {
                FinishReason = reason,
                PromptTokens = s.PromptCount,
                CompletionTokens = s.GeneratedCount,
                CachedPromptTokens = s.CachedPromptTokens,
                MatchedStop = s.Stops.MatchedStop,
                QueueTime = s.Admitted ? s.QueueTime : elapsed,
                TimeToFirstToken = s.FirstTokenTime ?? elapsed,
                TotalTime = elapsed,
                PromptLogprobs = s.PromptLogprobs,
                Work = s.Work,
            },
        });
        output.TryComplete();
        if (reason == FinishReason.Cancelled)
            _cancelledCount++;
        else
            _finished++;
    }

    private void Fail(Sequence s, Exception e)
    {
        _scheduler.Finish(s);
        if (!s.LeftQueue)
        {
            s.LeftQueue = true;
            Interlocked.Decrement(ref _queued);
        }
        s.Output.Writer.TryComplete(e);
        _failed++;
    }

    private void Publish()
    {
        Volatile.Write(ref _running, _scheduler.Running.Count);
        int preempted = 0;
        foreach (var s in _scheduler.Waiting)
        {
            if (s.LeftQueue)
                preempted++;
        }
        Volatile.Write(ref _preemptedWaiting, preempted);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _signal.Release();
        _thread.Join();
        _forward.Dispose();
        _signal.Dispose();
    }
}
