using System.Threading.Channels;
using TokenFactory.Engine;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Generation;

/// <summary>One engine update of choice <see cref="Index"/>, or the error that ended it.</summary>
internal readonly record struct ChoiceEvent(int Index, GenerationUpdate? Update, Exception? Error);

/// <summary>
/// Submits a response's choices to the engine as one request (admitted or refused as a unit, queued fairly for its
/// tenant), runs them concurrently and merges their updates into one stream tagged by choice index. Every choice is
/// tied to the client's connection: when it goes away (or a sibling choice fails) all of them are cancelled, and the
/// engine stops them within one decoding step.
/// </summary>
internal sealed class ChoiceRunner : IAsyncDisposable
{
    /// <summary>
    /// Events waiting for the response writer of a paced (streamed) response, per choice: the bound is this times the
    /// choices, shared by them. Past it a choice's pump waits, its engine updates queue up behind it, and the engine pauses the choice (<c>ChannelOutput.MaxUnread</c>): a
    /// client reading slowly costs a bounded buffer, not its whole answer.
    /// </summary>
    internal const int EventsPerChoice = 32;

    private readonly Channel<ChoiceEvent> _events;
    private readonly CancellationTokenSource _cancel;
    private readonly Task _all;
    private readonly ServerMetrics _metrics;
    private readonly ServerActivities _activities;
    private readonly DateTime _submitted;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly MeteredRequest? _metered;
    private readonly int _choicesPerPrompt;
    private readonly bool _paced;

    /// <param name="metered">Told every choice's usage, for the ledger.</param>
    /// <param name="choicesPerPrompt">n: choices i·n … i·n+n−1 share prompt i, whose tokens count once.</param>
    /// <param name="tenant">Whom the engine counts this request against when it shares itself fairly.</param>
    /// <param name="priority">The request's class in the engine's scheduling.</param>
    /// <param name="paced">
    /// The events go to a client as they come (a stream): at most <see cref="EventsPerChoice"/> a choice wait, and once the request
    /// is cancelled (its client gone) they are dropped. Otherwise (a collected answer, which reads every event, the final
    /// ones of a cancelled request included) they never wait.
    /// </param>
    /// <exception cref="EngineOverloadedException">The engine's queue refused the request (nothing was queued).</exception>
    public ChoiceRunner(IInferenceEngine engine, IReadOnlyList<GenerationRequest> requests, string tenant, ServerMetrics metrics, ServerActivities activities, TimeProvider time,
        long started, CancellationToken aborted, MeteredRequest? metered = null, int choicesPerPrompt = 1, PriorityClass priority = PriorityClass.Standard,
        bool paced = false)
    {
        _paced = paced;
        _activities = activities;
        _metered = metered;
        _choicesPerPrompt = Math.Max(1, choicesPerPrompt);
        _metrics = metrics;
        _time = time;
        _started = started;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> streams;
        // The engine times each choice from its submission: the choices' spans start there too.
        _submitted = DateTime.UtcNow;
        _events = paced
            ? Channel.CreateBounded<ChoiceEvent>(new BoundedChannelOptions(EventsPerChoice * Math.Max(1, requests.Count))
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            })
            : Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
        try
        {
            // All choices at once: the engine admits or refuses the request as one unit.
            streams = engine.Submit(new GenerationGroup { Choices = requests, Tenant = tenant, Priority = priority }, _cancel.Token);
        }
        catch
        {
            _cancel.Dispose();
            throw;
        }
        var pumps = new Task[requests.Count];
        for (int i = 0; i < requests.Count; i++)
            pumps[i] = PumpAsync(i, streams[i]);
        _all = Task.WhenAll(pumps).ContinueWith(_ => _events.Writer.TryComplete(), TaskScheduler.Default);
    }

    public ChannelReader<ChoiceEvent> Events => _events.Reader;

    /// <summary>Completes when every choice's engine work has ended (after a cancellation too).</summary>
    public Task Completion => _all;

    private async Task PumpAsync(int index, IAsyncEnumerable<GenerationUpdate> stream)
    {
        await Task.Yield();
        long? last = null;
        using var span = _activities.StartGeneration(index, _submitted);
        try
        {
            await foreach (var update in stream.ConfigureAwait(false))
            {
                long now = _time.GetTimestamp();
                if (update.Final is { } final)
                {
                    _metrics.RecordFinal(final);
                    _activities.EndGeneration(span, final);
                    _metered?.OnFinal(final, index % _choicesPerPrompt == 0);
                }
                else if (update.Token >= 0)
                {
                    if (last is long previous)
                        _metrics.RecordInterTokenLatency(_time.GetElapsedTime(previous, now));
                    else
                    {
                        _metrics.RecordTimeToFirstToken(_time.GetElapsedTime(_started, now));
                        _metered?.OnToken(now);
                    }
                    last = now;
                }
                await WriteAsync(new ChoiceEvent(index, update, null)).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            await WriteAsync(new ChoiceEvent(index, null, e)).ConfigureAwait(false);
            await _cancel.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Hands an event to the response writer; paced, waiting while it is behind. Once a paced request is cancelled (its client
    /// gone, or the runner disposed) nobody reads its events: they are dropped, and the pump goes on draining its choice's
    /// stream to the final update, whose usage the ledger needs (the engine ends the choice within a step).
    /// </summary>
    private async ValueTask WriteAsync(ChoiceEvent e)
    {
        if (!_paced)
        {
            _events.Writer.TryWrite(e); // unbounded: always taken
            return;
        }
        if (_cancel.IsCancellationRequested)
            return;
        try
        {
            await _events.Writer.WriteAsync(e, _cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Cancels whatever still runs. It does not wait for queued requests to drain: a cancelled request that
    /// is still queued behind another client's generation leaves the engine's queue when it gets there.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_all.IsCompleted)
            await _cancel.CancelAsync();
        else
            _cancel.Dispose();
    }
}
