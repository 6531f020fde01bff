using System.Diagnostics;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Embeddings;

/// <summary>
/// Batches embedding inputs across requests: one thread takes waiting inputs in arrival order, as many as fit the
/// model's <see cref="IEmbeddingModel.MaxBatchTokens"/>, and encodes them in one pass, so concurrent callers share each
/// weight read. A request completes when its last input is encoded; a cancelled request's inputs not yet taken are dropped.
/// </summary>
public sealed class EmbeddingEngine : IEmbeddingEngine
{
    private readonly IEmbeddingModel _model;
    private readonly IDisposable? _ownedModel;
    private readonly MeterSharing _metering;
    private readonly MeteredPass _pass = new();
    private readonly int _maxWaitingInputs;
    private readonly Lock _lock = new();
    private readonly LinkedList<Job> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly List<ReadOnlyMemory<int>> _passInputs = [];
    private readonly List<(Job Job, int Index)> _passSlots = [];
    private readonly List<Job> _passJobs = []; // the requests a pass ended
    private float[] _passOutput = [];
    private int _waitingInputs, _runningInputs;
    private long _passes, _inputs, _tokens;

    /// <param name="ownedModel">Disposed with the engine (the model file behind <paramref name="model"/>), if given.</param>
    /// <param name="maxWaitingInputs">Inputs that may wait; more are refused with <see cref="EngineOverloadedException"/>.</param>
    /// <param name="metering">
    /// The machine's clock and energy meter, read around each pass so each request is charged its share (shared with a
    /// decoder's generation steps, so time both ran in is split between them, not charged twice); without it, passes are
    /// charged their wall time and no energy.
    /// </param>
    public EmbeddingEngine(IEmbeddingModel model, Tokenizer tokenizer, int maxWaitingInputs = 4096, IDisposable? ownedModel = null,
        MeterSharing? metering = null)
    {
        _model = model;
        _metering = metering ?? new MeterSharing(null);
        _ownedModel = ownedModel;
        Tokenizer = tokenizer;
        _maxWaitingInputs = Math.Max(1, maxWaitingInputs);
        _thread = new Thread(Loop) { IsBackground = true, Name = "tokenfactory-embeddings" };
        _thread.Start();
    }

    public Tokenizer Tokenizer { get; }
    public int Dimensions => _model.Dimensions;
    public int ContextLength => _model.ContextLength;
    public PoolingType Pooling => _model.Pooling;
    public EngineLoad Load => new(Volatile.Read(ref _runningInputs), Volatile.Read(ref _waitingInputs), 0, 0);
    public EmbeddingCounters Counters => new(Interlocked.Read(ref _passes), Interlocked.Read(ref _inputs), Interlocked.Read(ref _tokens));

    public Task<EmbeddingResult> EmbedAsync(IReadOnlyList<int[]> inputs, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Count; i++)
        {
            var tokens = inputs[i];
            if (tokens.Length == 0)
                throw new ArgumentException($"Input {i} is empty; every input needs at least one token.", "input");
            if (tokens.Length > ContextLength)
                throw new ArgumentException($"Input {i} is {tokens.Length} tokens; this model embeds at most {ContextLength}.", "input");
            foreach (int token in tokens)
            {
                if ((uint)token >= (uint)Tokenizer.VocabSize)
                    throw new ArgumentException($"Input {i} holds token {token}, outside the vocabulary of {Tokenizer.VocabSize}.", "input");
            }
        }
        if (inputs.Count == 0)
            return Task.FromResult(new EmbeddingResult([], 0, default, TimeSpan.Zero));
        cancellation.ThrowIfCancellationRequested();

        var job = new Job([.. inputs], cancellation);
        BeforeEnqueue?.Invoke();
        lock (_lock)
        {
            // Checked again under the lock Dispose fails the queue under: a job added after that would never end.
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            if (_waitingInputs + inputs.Count > _maxWaitingInputs && _waitingInputs > 0)
                throw new EngineOverloadedException(_waitingInputs, _maxWaitingInputs);
            _waitingInputs += inputs.Count;
            job.Node = _queue.AddLast(job);
        }
        job.Registration = cancellation.Register(() => Cancel(job));
        _signal.Release();
        return job.Completion.Task;
    }

    public void CancelAll()
    {
        var stopped = new List<Job>();
        lock (_lock)
        {
            for (var node = _queue.First; node != null;)
            {
                var next = node.Next;
                if (node.Value.Next == 0)
                {
                    _queue.Remove(node);
                    _waitingInputs -= node.Value.Inputs.Length;
                    stopped.Add(node.Value);
                }
                node = next;
            }
        }
        foreach (var job in stopped)
            job.Fail(new EngineStoppedException());
    }

    /// <summary>Runs between a request's checks and its enqueueing: lets a test dispose the engine in that gap.</summary>
    internal Action? BeforeEnqueue { get; set; }

    private void Cancel(Job job)
    {
        lock (_lock)
        {
            if (job.Node is { List: not null } node)
            {
                _queue.Remove(node);
                _waitingInputs -= job.Inputs.Length - job.Next;
            }
            job.Cancelled = true;
            // Inputs of it in the running pass: that pass runs to its end, and ends the request when it does, with its
            // work counted (ended now, the caller would settle before the pass it pays for had finished, at nothing).
            if (job.Next > job.Done)
                return;
        }
        job.FailCancelled();
    }

    private void Loop()
    {
        try
        {
            while (true)
            {
                _signal.Wait(_stop.Token);
                while (TakePass())
                    RunPass();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Moves waiting inputs into the pass, oldest first, while their tokens and the model's input slots fit.</summary>
    private bool TakePass()
    {
        _passInputs.Clear();
        _passSlots.Clear();
        int tokens = 0;
        lock (_lock)
        {
            var node = _queue.First;
            while (node != null)
            {
                var job = node.Value;
                while (job.Next < job.Inputs.Length && tokens + job.Inputs[job.Next].Length <= _model.MaxBatchTokens && _passInputs.Count < _model.MaxBatchInputs)
                {
                    if (job.Next == 0)
                        job.QueueTime = Stopwatch.GetElapsedTime(job.Enqueued);
                    tokens += job.Inputs[job.Next].Length;
                    _passInputs.Add(job.Inputs[job.Next]);
                    _passSlots.Add((job, job.Next++));
                    _waitingInputs--;
                }
                var next = node.Next;
                if (job.Next == job.Inputs.Length)
                    _queue.Remove(node);
                else
                    break; // the rest of this request goes first in the next pass
                node = next;
            }
            _runningInputs = _passInputs.Count;
        }
        return _passInputs.Count > 0;
    }

    private void RunPass()
    {
        int d = _model.Dimensions, count = _passInputs.Count;
        if (_passOutput.Length < count * d)
            _passOutput = new float[count * d];
        _metering.Begin(_pass);
        try
        {
            _model.Encode(_passInputs, _passOutput);
        }
        catch (Exception e)
        {
            _metering.End(_pass);
            foreach (var (job, _) in _passSlots)
                job.Fail(e);
            Volatile.Write(ref _runningInputs, 0);
            return;
        }
        var (seconds, joules) = _metering.End(_pass);
        long tokens = 0;
        foreach (var input in _passInputs)
            tokens += input.Length;
        for (int i = 0; i < count; i++)
        {
            var (job, index) = _passSlots[i];
            double share = (double)job.Inputs[index].Length / tokens;
            job.Seconds += seconds * share;
            job.Joules += joules * share;
            job.Results[index] = _passOutput.AsSpan(i * d, d).ToArray();
        }
        // Counted before any caller hears back, so a caller that sees its answer sees the pass counted.
        Interlocked.Increment(ref _passes);
        Interlocked.Add(ref _inputs, count);
        Interlocked.Add(ref _tokens, tokens);
        Volatile.Write(ref _runningInputs, 0);
        _passJobs.Clear();
        lock (_lock)
        {
            foreach (var (job, _) in _passSlots)
            {
                if (++job.Done == job.Next && (job.Done == job.Inputs.Length || job.Cancelled))
                    _passJobs.Add(job);
            }
        }
        foreach (var job in _passJobs)
        {
            if (job.Cancelled)
                job.FailCancelled(); // cancelled while this pass ran: ended now, with this pass's work
            else
                job.Complete();
        }
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _thread.Join();
        lock (_lock)
        {
            foreach (var job in _queue)
                job.Fail(new ObjectDisposedException(nameof(EmbeddingEngine)));
            _queue.Clear();
        }
        _model.Dispose();
        _ownedModel?.Dispose();
        _signal.Dispose();
        _stop.Dispose();
    }

    private sealed class Job(int[][] inputs, CancellationToken cancellation)
    {
        public readonly int[][] Inputs = inputs;
        public readonly float[][] Results = new float[inputs.Length][];
        public readonly CancellationToken Cancellation = cancellation;
        public readonly TaskCompletionSource<EmbeddingResult> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly long Enqueued = Stopwatch.GetTimestamp();
        public TimeSpan QueueTime;
        public double Seconds, Joules; // written by the engine thread only
        public LinkedListNode<Job>? Node;
        public CancellationTokenRegistration Registration;
        public int Next; // inputs taken into passes (under the engine's lock)
        public int Done; // inputs whose passes finished (under the engine's lock)
        public bool Cancelled; // under the engine's lock

        /// <summary>Cancelled, with what its finished passes did: their tokens ran and are the caller's to meter.</summary>
        public void FailCancelled() => Completion.TrySetException(new EmbeddingCancelledException(TokensDone(),
            new WorkShare(Volatile.Read(ref Seconds), 0, Volatile.Read(ref Joules), 0), QueueTime, Cancellation));

        /// <summary>Tokens of the inputs whose passes finished (their vectors are in <see cref="Results"/>).</summary>
        public long TokensDone()
        {
            long tokens = 0;
            for (int i = 0; i < Inputs.Length; i++)
            {
                if (Volatile.Read(ref Results[i]) is not null)
                    tokens += Inputs[i].Length;
            }
            return tokens;
        }

        public void Complete()
        {
            Registration.Dispose();
            Completion.TrySetResult(new EmbeddingResult(Results, Inputs.Sum(i => (long)i.Length), new WorkShare(Seconds, 0, Joules, 0), QueueTime));
        }

        public void Fail(Exception e)
        {
            Registration.Dispose();
            Completion.TrySetException(e);
        }
    }
}
