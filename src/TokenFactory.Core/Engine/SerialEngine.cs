using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using TokenFactory.Chat;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>
/// Serves requests one at a time, in arrival order, on a single dedicated thread. Concurrent callers
/// queue (bounded) and each gets only its own tokens. The batching engine supersedes it for
/// throughput; this one stays as the simplest correct reference.
/// </summary>
public sealed class SerialEngine : IInferenceEngine
{
    private readonly ForwardPass _pass;
    private readonly TextGenerator _generator;
    private readonly EngineOptions _options;
    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _worker;
    private int _waiting;
    private int _running;

    public SerialEngine(TransformerModel model, EngineOptions? options = null)
    {
        _options = options ?? new EngineOptions();
        Model = model;
        Tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        (ChatTemplate, HasOwnChatTemplate) = ChatTemplates.ForModel(model.File.Metadata, Tokenizer);
        ContextLength = _options.ResolveContextLength(model.Config.ContextLength);
        _pass = new ForwardPass(model, ContextLength, threads: _options.Threads);
        _generator = new TextGenerator(model, Tokenizer, _pass);
        _worker = new Thread(Work) { IsBackground = true, Name = "tokenfactory-serial-engine" };
        _worker.Start();
    }

    public TransformerModel Model { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public bool HasOwnChatTemplate { get; }
    public int ContextLength { get; }

    public Batching.EngineCounters Counters => default;

    public EngineLoad Load => new(Volatile.Read(ref _running), Volatile.Read(ref _waiting), _pass.Position, ContextLength);

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        request.Sampling.Validate();
        if (request.PromptTokens.Count + request.MaxTokens > ContextLength)
            throw new ContextLengthExceededException(request.PromptTokens.Count, request.MaxTokens, ContextLength);
        if (Interlocked.Increment(ref _waiting) > _options.MaxWaitingRequests)
        {
            int waiting = Interlocked.Decrement(ref _waiting);
            throw new EngineOverloadedException(waiting, _options.RetryAfter);
        }
        var job = new Job(request, cancellation);
        _queue.Writer.TryWrite(job);
        await foreach (var update in job.Output.Reader.ReadAllAsync(CancellationToken.None))
            yield return update;
        if (job.Failure != null)
            throw job.Failure;
    }

    private void Work()
    {
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var job))
            {
                Interlocked.Decrement(ref _waiting);
                Interlocked.Increment(ref _running);
                try
                {
                    Run(job);
                }
                catch (Exception e)
                {
                    job.Failure = e;
                }
                finally
                {
                    Interlocked.Decrement(ref _running);
                    job.Output.Writer.TryComplete();
                }
            }
        }
    }

    private void Run(Job job)
    {
        var queueTime = job.Clock.Elapsed;
        TimeSpan? firstToken = null;
        if (job.Cancellation.IsCancellationRequested)
        {
            job.Output.Writer.TryWrite(new GenerationUpdate
            {
                Final = new GenerationSummary { FinishReason = FinishReason.Cancelled, PromptTokens = job.Request.PromptTokens.Count, CompletionTokens = 0, QueueTime = queueTime, TotalTime = job.Clock.Elapsed },
            });
            return;
        }
        // One job at a time: the whole run's time and energy are this job's; the first token splits prompt from generation.
        var meter = _options.EnergyMeter;
        double joulesStart = meter?.ReadJoules() ?? 0, joulesFirst = 0;
        var started = job.Clock.Elapsed;
        var result = _generator.Generate(job.Request, t =>
        {
            if (firstToken is null)
                joulesFirst = meter?.ReadJoules() ?? 0;
            firstToken ??= job.Clock.Elapsed;
            job.Output.Writer.TryWrite(new GenerationUpdate { Token = t.Id, Text = t.Text, Logprob = t.Logprob, TopLogprobs = t.TopLogprobs });
        }, job.Cancellation);
        job.Output.Writer.TryWrite(new GenerationUpdate
        {
            Final = new GenerationSummary
            {
                FinishReason = result.FinishReason,
                PromptTokens = result.PromptTokens,
                CompletionTokens = result.Tokens.Count,
                CachedPromptTokens = result.CachedPromptTokens,
                MatchedStop = result.MatchedStop,
                QueueTime = queueTime,
                TimeToFirstToken = firstToken ?? job.Clock.Elapsed,
                TotalTime = job.Clock.Elapsed,
                PromptLogprobs = result.PromptLogprobs,
                Work = SerialWork(started, firstToken, job.Clock.Elapsed, meter, joulesStart, joulesFirst),
            },
        });
    }

    private static WorkShare SerialWork(TimeSpan started, TimeSpan? firstToken, TimeSpan ended, IEnergyMeter? meter, double joulesStart, double joulesFirst)
    {
        double joulesEnd = meter?.ReadJoules() ?? 0;
        if (firstToken is not TimeSpan first)
            return new WorkShare((ended - started).TotalSeconds, 0, Math.Max(0, joulesEnd - joulesStart), 0);
        return new WorkShare((first - started).TotalSeconds, (ended - first).TotalSeconds,
            Math.Max(0, joulesFirst - joulesStart), Math.Max(0, joulesEnd - joulesFirst));
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _worker.Join();
        _pass.Dispose();
    }

    private sealed class Job(GenerationRequest request, CancellationToken cancellation)
    {
        public GenerationRequest Request { get; } = request;
        public CancellationToken Cancellation { get; } = cancellation;
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public Channel<GenerationUpdate> Output { get; } = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
        public Exception? Failure { get; set; }
    }
}
