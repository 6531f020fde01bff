using Microsoft.Extensions.Logging;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Floor;

/// <summary>
/// An admitted generation request on the factory floor: its admission and the usage its choices report as
/// they finish. It is settled exactly once: by the response before its last byte when it completes, or, when
/// it fails or the client leaves, once the engine has stopped every choice (so the ledger gets the tokens
/// really generated). Without an admission (a request of the fleet's router, settled by the router) settling does nothing.
/// </summary>
internal sealed class MeteredRequest(Admission? admission, long startTimestamp, TimeProvider time, ServerActivities activities)
{
    private readonly Lock _lock = new();
    private long _prompt, _cached, _completion;
    private TimeSpan _queue;
    private TimeSpan? _firstToken;
    private WorkShare _work;

    public Admission? Admission { get; } = admission;

    /// <summary>No choice has produced a token or finished yet.</summary>
    public bool NothingRan
    {
        get
        {
            lock (_lock)
                return _firstToken is null && _prompt == 0 && _completion == 0;
        }
    }

    /// <summary>From ChoiceRunner: a choice ended. The prompt counts once per prompt, not once per choice.</summary>
    public void OnFinal(GenerationSummary final, bool countsPrompt)
    {
        lock (_lock)
        {
            if (countsPrompt)
            {
                _prompt += final.PromptTokens;
                _cached += final.CachedPromptTokens;
            }
            _completion += final.CompletionTokens;
            if (final.QueueTime > _queue)
                _queue = final.QueueTime;
            _work = new WorkShare(_work.PrefillSeconds + final.Work.PrefillSeconds, _work.DecodeSeconds + final.Work.DecodeSeconds,
                _work.PrefillJoules + final.Work.PrefillJoules, _work.DecodeJoules + final.Work.DecodeJoules);
        }
    }

    /// <summary>An embedding request's work: its input tokens (charged as prompt tokens) and its share of the passes.</summary>
    public void OnEmbedded(long tokens, WorkShare work, TimeSpan queue)
    {
        lock (_lock)
        {
            _prompt += tokens;
            _work = work;
            _queue = queue;
            _firstToken ??= time.GetElapsedTime(startTimestamp);
        }
    }

    /// <summary>From ChoiceRunner: the first token of any choice, on the server's clock.</summary>
    public void OnToken(long timestamp)
    {
        lock (_lock)
            _firstToken ??= time.GetElapsedTime(startTimestamp, timestamp);
    }

    public UsageOutcome Outcome(string requestId, int status)
    {
        lock (_lock)
        {
            return new UsageOutcome
            {
                RequestId = requestId,
                Status = status,
                PromptTokens = _prompt,
                CachedPromptTokens = _cached,
                CompletionTokens = _completion,
                QueueTime = _queue,
                TimeToFirstToken = _firstToken ?? TimeSpan.Zero,
                Duration = time.GetElapsedTime(startTimestamp),
                Work = _work,
            };
        }
    }

    /// <summary>Settles a completed request now (the caller then sends the response's end).</summary>
    public async Task SettleAsync(string requestId, int status)
    {
        if (Admission is null)
            return;
        using var span = activities.StartSettlement(requestId, status);
        await Admission.SettleAsync(Outcome(requestId, status)).ConfigureAwait(false);
    }

    /// <summary>
    /// A request that failed or was cancelled (or whose line the ledger refused) settles once its engine work has
    /// really stopped (cancelled choices report what they had generated), without holding up the response; when the
    /// ledger refuses the line, it is tried again in the background (<see cref="Admission.SettleLater"/>) at the same status.
    /// </summary>
    public void SettleWhenStopped(Task engineWork, string requestId, int status, FloorService floor, ILogger logger)
    {
        if (Admission is null or { IsSettled: true })
            return;
        floor.Track(Task.Run(async () =>
        {
            try
            {
                await engineWork.WaitAsync(TimeSpan.FromMinutes(10)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // settle with what was seen; the engine never reported the rest
            }
            try
            {
                await SettleAsync(requestId, status).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                FloorLog.SettleRetrying(logger, e, requestId);
                Admission.SettleLater(Outcome(requestId, status), last => FloorLog.SettleFailed(logger, last, requestId));
            }
        }));
    }

    /// <summary>
    /// The request never ran (the engine refused it): its admission is withdrawn, no line written. When the ledger
    /// refuses the release, the client still gets the engine's error and the release is tried again in the background.
    /// </summary>
    public async Task WithdrawAsync(string requestId, ILogger logger)
    {
        if (Admission is null)
            return;
        try
        {
            await Admission.WithdrawAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            FloorLog.SettleRetrying(logger, e, requestId);
            Admission.WithdrawLater(last => FloorLog.SettleFailed(logger, last, requestId));
        }
    }
}
