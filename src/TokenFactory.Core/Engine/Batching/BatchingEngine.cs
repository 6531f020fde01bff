using System.Collections.Concurrent;
using System.Diagnostics;
using TokenFactory.Chat;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Batching;

/// <summary>
/// Continuous batching for concurrent callers: one engine thread loops <see cref="EngineCore.Step"/> while there is
/// work. Requests join at the next step and leave the moment they finish or are cancelled, releasing their KV blocks
/// at once; each caller reads only its own tokens, as <see cref="GenerationUpdate"/>s.
/// </summary>
public sealed class BatchingEngine : IInferenceEngine
{
    private readonly EngineCore _core;
    private readonly WaitQueue _queue;
    private readonly ConcurrentQueue<Sequence> _submissions = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Thread _thread;
    private volatile bool _disposed;
    private int _cancelAll; // 1: the loop ends every sequence before its next step
    private long _submitted;

    public BatchingEngine(TransformerModel model, EngineOptions? options = null)
    {
        if (options?.BurstGather is { } gather && (gather < TimeSpan.Zero || gather > TimeSpan.FromMinutes(1)))
            throw new ArgumentOutOfRangeException(nameof(options), gather, "BurstGather must be between 0 and a minute.");
        _core = new EngineCore(model, options);
        _queue = new WaitQueue(Math.Max(0, _core.Options.MaxWaitingRequests));
        (ChatTemplate, HasOwnChatTemplate) = ChatTemplates.ForModel(model.File.Metadata, Tokenizer, _core.Options.ChatTemplateSource);
        // A decoder that declares a pooling (an embedding model such as Qwen3-Embedding), or is given one, also serves
        // embeddings: prompt-only passes on their own thread, over a cache of their own.
        var pooling = _core.Options.Pooling ?? PoolingTypes.FromMetadata(model.File.Metadata, model.Architecture);
        if (pooling is PoolingType.Mean or PoolingType.Cls or PoolingType.Last)
        {
            try
            {
                Embeddings = new EmbeddingEngine(new DecoderEmbedder(model, pooling.Value, ContextLength, _core.Threads), Tokenizer,
                    metering: _core.Metering);
            }
            catch
            {
                _core.Dispose();
                throw;
            }
        }
        _thread = new Thread(Loop) { IsBackground = true, Name = "tokenfactory-batching-engine" };
        _thread.Start();
    }

    public TransformerModel Model => _core.Model;
    IModelFile IInferenceEngine.Model => _core.Model;
    public Tokenizer Tokenizer => _core.Tokenizer;
    public ChatTemplate ChatTemplate { get; }
    public bool HasOwnChatTemplate { get; }
    public int ContextLength => _core.ContextLength;
    public int Threads => _core.Threads;
    public long KvCacheBytes => _core.KvCacheBytes;

    public EngineLoad Load => new(_core.Running, Queued + _core.PreemptedWaiting, _core.KvCacheUsedTokens, _core.KvCacheCapacityTokens);

    public EngineCounters Counters => _core.Counters;

    /// <inheritdoc cref="EngineCore.EmptySteps"/>
    internal long EmptySteps => _core.EmptySteps;

    public IEmbeddingEngine? Embeddings { get; }

    public EngineStatus Status
    {
        get
        {
            var load = Load;
            return new EngineStatus
            {
                Running = load.Running,
                MaxRunning = _core.MaxRunning,
                Waiting = load.Waiting,
                WaitingRequests = _queue.Count,
                MaxWaitingRequests = _queue.Capacity,
                PendingPrefillTokens = _core.PendingPrefillTokens,
                PrefillTokensPerSecond = _core.PrefillTokensPerSecond,
                DecodeTokensPerSecond = _core.DecodeTokensPerSecond,
                KvBlockSize = _core.KvBlockSize,
                KvBlocksTotal = _core.KvBlocksTotal,
                KvBlocksFree = _core.KvBlocksFree,
                PrefixCaching = _core.PrefixCaching,
                KvBytesPerToken = _core.KvBytesPerToken,
                StateBytesPerSequence = _core.StateBytesPerSequence,
            };
        }
    }

    /// <inheritdoc cref="EngineCore.StateSlots"/>
    public int StateSlots => _core.StateSlots;
    public int FreeStateSlots => _core.FreeStateSlots;

    /// <inheritdoc cref="EngineCore.RecurrentStateBytes"/>
    public long RecurrentStateBytes => _core.RecurrentStateBytes;

    /// <inheritdoc cref="EngineCore.RecurrentSnapshotCount"/>
    public int RecurrentSnapshotCount => _core.RecurrentSnapshotCount;

    /// <inheritdoc cref="EngineCore.RecurrentSnapshotBytes"/>
    public long RecurrentSnapshotBytes => _core.RecurrentSnapshotBytes;

    /// <inheritdoc cref="EngineCore.PrefixCaching"/>
    public bool PrefixCaching => _core.PrefixCaching;

    /// <summary>Free blocks once idle must equal the total: for tests of leaks. Call only while idle.</summary>
    public bool IsIdle => Queued == 0 && _core.Running == 0 && _submissions.IsEmpty;

    /// <summary>Submitted requests not yet scheduled for the first time (nor ended).</summary>
    private int Queued => (int)(Volatile.Read(ref _submitted) - _core.Dequeued);

    /// <summary>Requests waiting to start (groups of choices), as the wait queue counts them.</summary>
    public int WaitingRequests => _queue.Count;

    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default) =>
        Submit(new GenerationGroup { Choices = [request] }, cancellation)[0];

    /// <summary>
    /// Queues a request's choices together: all are checked first, then admitted as one waiting request (displacing
    /// the newest request of a tenant holding more of a full queue) or refused at once, nothing queued.
    /// </summary>
    public IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> Submit(GenerationGroup group, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (group.Choices.Count == 0)
            throw new ArgumentException("A request needs at least one choice.", nameof(group));
        foreach (var choice in group.Choices)
            _core.Validate(choice);
        var sequenceGroup = _queue.Enqueue(group.Tenant, group.Priority);
        var readers = new IAsyncEnumerable<GenerationUpdate>[group.Choices.Count];
        for (int i = 0; i < readers.Length; i++)
        {
            var output = new ChannelOutput(Wake);
            var sequence = _core.CreateSequence(group.Choices[i], output, cancellation, sequenceGroup);
            readers[i] = ReadAsync(output, sequence);
            Interlocked.Increment(ref _submitted);
            _submissions.Enqueue(sequence);
        }
        if (_disposed)
        {
            // Disposed since the check above: the loop may have taken its last submissions already, so nothing would
            // ever end these. Whatever is still queued ends here (the loop ends what it took).
            while (_submissions.TryDequeue(out var left))
                left.Output.Failed(new ObjectDisposedException(nameof(BatchingEngine)));
            throw new ObjectDisposedException(nameof(BatchingEngine));
        }
        _signal.Release();
        return readers;
    }

    private static async IAsyncEnumerable<GenerationUpdate> ReadAsync(ChannelOutput output, Sequence sequence)
    {
        try
        {
            await foreach (var update in output.Reader.ReadAllAsync(CancellationToken.None))
            {
                output.Consumed();
                yield return update;
            }
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
                _core.Add(s);
            if (Interlocked.Exchange(ref _cancelAll, 0) == 1)
                _core.CancelAll();
            if (_disposed)
            {
                // A request submitted after the drain above but before Submit saw the flag is still queued here: it ends too
                // (one submitted later sees the flag in Submit and ends itself).
                while (_submissions.TryDequeue(out var s))
                    _core.Add(s);
                _core.CancelAll();
                return;
            }
            bool stepped;
            try
            {
                stepped = _core.Step();
            }
            catch (Exception e)
            {
                // Escaping here would end the engine thread, and with it the process. Its requests fail instead.
                _core.FailAll(new InvalidOperationException("The engine's step failed: " + e.Message, e));
                continue;
            }
            if (!stepped)
            {
                _signal.Wait();
                if (!_submissions.IsEmpty) // not a release left over from requests already taken
                    GatherBurst();
            }
            else if (_core.RanNothing)
            {
                // Every running sequence waits for its reader (and nothing else could start): a reader catching up or a new
                // request wakes the loop; meanwhile it looks again now and then, for cancellations.
                _signal.Wait(StalledPoll);
            }
        }
    }

    /// <summary>How often a loop whose sequences all wait for their readers looks for cancellations (tests lengthen it to see the readers' wake alone).</summary>
    internal TimeSpan StalledPoll { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>A reader caught up with its sequence (<see cref="ChannelOutput"/>): the loop may be waiting for it.</summary>
    private void Wake()
    {
        if (_disposed)
            return;
        try
        {
            _signal.Release();
        }
        catch (ObjectDisposedException)
        {
            // Disposed since the check: nothing waits any more.
        }
    }

    /// <summary>The longest an idle engine waits for the rest of a burst, whatever its steps take.</summary>
    private static readonly TimeSpan MaxGather = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// An idle engine woken by a request gives the rest of a burst a moment to arrive (a closed loop's clients sending as
    /// their answers end on one step, a client's parallel calls), so they share the first step instead of racing it:
    /// otherwise who got in would depend on whether the senders' threads ran before this one started a step that takes
    /// every core, and the same load would run as one batch or as two, offset for the rest of its life. The moment is
    /// 5 % of a typical step (at most 2 ms; nothing before the first step) unless <see cref="EngineOptions.BurstGather"/> sets
    /// it, and ends once nothing has arrived for a fifth of it. The thread yields its core meanwhile rather than sleeping
    /// (timed waits are a millisecond at best), except for what is left of a longer window.
    /// </summary>
    private void GatherBurst()
    {
        double window = _core.Options.BurstGather?.TotalSeconds ?? Math.Min(MaxGather.TotalSeconds, 0.05 * _core.TypicalStepSeconds);
        if (window <= 0)
            return;
        long windowTicks = (long)(window * Stopwatch.Frequency), quietTicks = windowTicks / 5;
        long start = Stopwatch.GetTimestamp(), lastArrival = start, seen = Volatile.Read(ref _submitted);
        while (!_disposed)
        {
            long now = Stopwatch.GetTimestamp();
            long submitted = Volatile.Read(ref _submitted);
            if (submitted != seen)
                (seen, lastArrival) = (submitted, now);
            long remaining = Math.Min(start + windowTicks, lastArrival + quietTicks) - now;
            if (remaining <= 0)
                return;
            if (remaining > Stopwatch.Frequency / 250)
                _signal.Wait(TimeSpan.FromSeconds(remaining / (double)Stopwatch.Frequency - 0.002)); // a long window set by the operator: sleep, woken by an arrival
            else
                Thread.Yield();
        }
    }

    /// <summary>Every sequence, running or waiting, ends as cancelled before the engine's next step (on its thread).</summary>
    public void CancelAll()
    {
        if (_disposed)
            return;
        Interlocked.Exchange(ref _cancelAll, 1);
        _signal.Release();
        Embeddings?.CancelAll();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _signal.Release();
        _thread.Join();
        _core.Dispose();
        Embeddings?.Dispose();
        _signal.Dispose();
    }
}
