using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using TokenFactory.Floor;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Telemetry;
using TokenFactory.Server.Api;
using TokenFactory.Server.Floor;

namespace TokenFactory.Router.Proxy;

/// <summary>
/// An admitted request, forwarded: it waits for a replica (earliest deadline first), goes out through YARP, and comes
/// back relayed and metered. A replica that cannot be reached, or refuses for load, before anything reached the client
/// is marked down (when unreachable) and the request goes once more to another one. However it ends (answered,
/// refused, cut, the client gone while it waited), the admission is settled or withdrawn exactly once: with the usage
/// the replica reported (or the tokens counted on the way) and the replica that served it.
/// </summary>
internal sealed class ForwardedGeneration(ForwardedWork work, MeteredRequest metered, string tenant) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var time = services.GetRequiredService<TimeProvider>();
        var metrics = services.GetRequiredService<RouterMetrics>();
        var run = new Run(work, metered, tenant, context, services, time, metrics);
        Exception? failure = null;
        try
        {
            await run.ForwardAsync();
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // the client left (while the request waited for a replica, or as its answer was relayed): settled below
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            if (metered.Admission is { IsSettled: false } && !run.WithdrawalPending)
            {
                // Whatever went wrong (the ledger's write included), the reservation is released and the ledger gets
                // what was produced, at the status the client is told: now, or by the retries when the ledger fails again.
                int status = context.RequestAborted.IsCancellationRequested ? ErrorMapper.ClientClosedRequest
                    : failure is not null ? Math.Max(ErrorMapper.Map(failure).Status, 500) : Math.Max(context.Response.StatusCode, 500);
                try
                {
                    await run.SettleAsync(status);
                }
                catch (Exception e)
                {
                    run.SettleLater(status, e); // what failed before is what the client is told
                }
            }
        }
    }

    /// <summary>One request's forwarding: the attempts, the usage seen and how it is settled.</summary>
    private sealed class Run(ForwardedWork work, MeteredRequest metered, string tenant, HttpContext context, IServiceProvider services, TimeProvider time, RouterMetrics metrics)
    {
        private readonly RelayedUsage _usage = new(time, work.Started);
        private readonly FloorService _floor = services.GetRequiredService<FloorService>();
        private readonly ILogger _logger = services.GetRequiredService<ILogger<ForwardedGeneration>>();
        private Replica? _servedBy;

        private ForwardedWork Work => work;
        private Floor.Admission Admission => metered.Admission ?? throw new InvalidOperationException("A router's request is always admitted on its own floor.");

        public async Task ForwardAsync()
        {
            var dispatcher = services.GetRequiredService<Dispatcher>();
            var replicas = services.GetRequiredService<ReplicaSet>();
            var forwarder = services.GetRequiredService<IHttpForwarder>();
            var options = services.GetRequiredService<IOptions<RouterOptions>>().Value;
            string? token = services.GetRequiredService<RouterToken>().Value;
            var http = replicas.ClusterState?.Model.HttpClient ?? throw new InvalidOperationException("YARP's cluster is not loaded.");

            Replica? tried = null;
            // The floor's headers (rate limits): what a retry starts from again, should an attempt have copied a replica's.
            var floorHeaders = context.Response.Headers.ToList();
            for (int attempt = 1; ; attempt++)
            {
                Dispatcher.Lease lease;
                try
                {
                    lease = await dispatcher.AcquireAsync(Work.Route, tried, context.RequestAborted);
                }
                catch (OpenAiException e)
                {
                    await WithdrawAsync(e.Status, e); // nothing ran anywhere
                    throw;
                }
                var replica = lease.Replica;
                _servedBy = replica;
                UpstreamRelay relay;
                UpstreamTransformer transformer;
                ForwarderError error;
                bool ejected;
                using (lease)
                {
                    using var idle = new IdleTimeout(TimeSpan.FromSeconds(Math.Max(1, options.FirstByteTimeoutSeconds)),
                        TimeSpan.FromSeconds(Math.Max(1, options.UpstreamTimeoutSeconds)), context.RequestAborted, replica.Unresponsive,
                        () => replica.Progressed(time.GetTimestamp()));
                    relay = new UpstreamRelay(Work, _usage, SettleAsync, idle);
                    transformer = new UpstreamTransformer(replica, Work, tenant, token, canRetry: attempt == 1, relay, idle);
                    // YARP sends the request's body: the client's, as planned (usage asked for, the class in a header).
                    byte[] body = Work.UpstreamBodyFor(replica);
                    context.Request.Body = new MemoryStream(body, writable: false);
                    context.Request.ContentLength = body.Length;
                    context.Request.ContentType = "application/json";
                    error = await forwarder.SendAsync(context, replica.Prefix, http,
                        new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromDays(1) }, transformer, idle.Token);
                    if (!transformer.Answered && idle.Expired)
                        error = ForwarderError.RequestTimedOut;
                    ejected = idle.Ejected;
                }
                context.RequestAborted.ThrowIfCancellationRequested();

                // A replica that could not be reached is out for a second (the poller confirms or brings it back); one that
                // was reached but slow is not taken out here: its status polls say whether it is alive.
                bool unreachable = !transformer.Answered && error is ForwarderError.Request or ForwarderError.RequestTimedOut;
                if (unreachable && error is ForwarderError.Request)
                    replicas.MarkDown(replica, TimeSpan.FromSeconds(1));
                if ((unreachable || transformer.RetryReason is not null) && !context.Response.HasStarted)
                {
                    string reason = transformer.RetryReason
                        ?? (ejected ? "replica_unresponsive" : error is ForwarderError.RequestTimedOut ? "upstream_timeout" : "upstream_unreachable");
                    metrics.Retried(replica, reason, attempt == 1);
                    RouterLog.Failover(_logger, Work.Id, replica.Name, reason, attempt);
                    if (attempt == 1)
                    {
                        tried = replica;
                        // Nothing of the attempt reached the client; the floor's headers (rate limits) stay.
                        context.Response.StatusCode = StatusCodes.Status200OK;
                        continue;
                    }
                    var failure = new OpenAiException(503, $"No replica could take this request ({reason} from {replica.Name}, after one retry elsewhere).",
                        OpenAiErrorTypes.Unavailable, code: "no_replica_available") { RetryAfterSeconds = 1 };
                    await WithdrawAsync(503, failure);
                    context.Response.Headers[UpstreamTransformer.ReplicaHeader] = replica.Name; // the last one tried
                    throw failure;
                }
                if (!transformer.Answered && error is not ForwarderError.None)
                {
                    RouterLog.ForwardFailed(_logger, Work.Id, replica.Name, error.ToString(), context.Features.Get<IForwarderErrorFeature>()?.Exception);
                    var failure = new OpenAiException(502, $"The router could not forward this request to {replica.Name} ({error}).", OpenAiErrorTypes.Server, code: "upstream_error");
                    await WithdrawAsync(502, failure);
                    context.Response.Headers[UpstreamTransformer.ReplicaHeader] = replica.Name;
                    throw failure;
                }
                if (relay.Failure is { Code: UpstreamRelay.CutCode } && !context.Response.HasStarted && _usage.TokensSeen == 0 && attempt == 1)
                {
                    // It answered, then broke off before anything reached the client (headers only, or part of a whole
                    // answer): as good as not answered, so it goes once to another replica, as unreachable ones do.
                    metrics.Retried(replica, UpstreamRelay.CutCode, retried: true);
                    RouterLog.Failover(_logger, Work.Id, replica.Name, UpstreamRelay.CutCode, attempt);
                    tried = replica;
                    context.Response.Headers.Clear();
                    foreach (var (name, value) in floorHeaders)
                        context.Response.Headers[name] = value;
                    context.Response.StatusCode = StatusCodes.Status200OK;
                    continue;
                }
                if (relay.Failure is { } broken && !context.Response.HasStarted)
                {
                    // The replica's answer could not be relayed (not an OpenAI answer, or cut before its end), or the
                    // ledger refused its line: nothing reached the client, which gets this error (the replica's
                    // header set); what the replica may have computed is settled.
                    if (relay.Cut)
                        metrics.StreamCut(replica);
                    await SettleAsync(broken.Status);
                    metrics.Finished(replica, Work, _usage, broken.Status);
                    throw broken;
                }
                if (relay.Failure is { } late)
                {
                    // The stream had begun when it failed: the client gets an error event and [DONE] after what it has,
                    // and the tokens relayed so far are settled (before that end, unless the ledger is what failed).
                    if (relay.FailedUpstream)
                    {
                        metrics.StreamCut(replica);
                        RouterLog.StreamCut(_logger, Work.Id, replica.Name, _usage.TokensSeen);
                    }
                    try
                    {
                        await SettleAsync(late.Status);
                    }
                    finally
                    {
                        await UpstreamRelay.EndStreamAsync(context, late);
                        metrics.Finished(replica, Work, _usage, late.Status);
                    }
                    return;
                }
                if (relay.Status is >= 400 and < 500 || (relay.Status >= 500 && _usage.TokensSeen == 0 && !relay.Cut))
                {
                    // The replica refused it, or failed before producing anything: the client has the replica's error; it
                    // never ran, so it is counted as a refusal rather than charged.
                    var refusal = new OpenAiException(relay.Status, relay.ErrorCode ?? "upstream error", OpenAiErrorTypes.Server, code: relay.ErrorCode);
                    await WithdrawAsync(relay.Status, refusal);
                    return;
                }
                if (relay.Cut)
                {
                    metrics.StreamCut(replica);
                    RouterLog.StreamCut(_logger, Work.Id, replica.Name, _usage.TokensSeen);
                }
                await SettleAsync(relay.Status); // a cut stream: what was produced, at 502
                metrics.Finished(replica, Work, _usage, relay.Status);
                return;
            }
        }

        public async Task SettleAsync(int status)
        {
            if (Admission.IsSettled)
                return;
            await Admission.SettleAsync(Outcome(status));
            RecordDuration();
        }

        /// <summary>
        /// The ledger refused the line twice: tried again in the background (<see cref="Floor.Admission.SettleLater"/>), so a
        /// ledger that recovers gets its line and releases the reservation.
        /// </summary>
        public void SettleLater(int status, Exception first)
        {
            RouterLog.SettleRetrying(_logger, Work.Id, first);
            Admission.SettleLater(Outcome(status), last => RouterLog.SettleFailed(_logger, Work.Id, last),
                settled: RecordDuration);
        }

        /// <summary>The end-to-end latency histogram is the generation requests' (as a replica's is): embeddings stay out of it.</summary>
        private void RecordDuration()
        {
            if (Work.Path != ForwardedWork.EmbeddingsPath)
                metrics.Server.RecordRequestDuration(time.GetElapsedTime(Work.Started));
        }

        /// <summary>A withdrawal the ledger refused, retried in the background: the request is a refusal, never to be settled as run.</summary>
        public bool WithdrawalPending { get; private set; }

        /// <summary>
        /// The request never ran: its reservation released and a refusal counted. A ledger that refuses the release does not
        /// change what the client is told (the replica's error, or the router's own): the release is retried in the
        /// background, as a single server does, instead of the request failing into a ledger line it never earned.
        /// </summary>
        private async Task WithdrawAsync(int status, Exception reason)
        {
            bool withdrawn;
            try
            {
                withdrawn = await Admission.WithdrawAsync(CancellationToken.None);
            }
            catch (Exception e)
            {
                RouterLog.SettleRetrying(_logger, Work.Id, e);
                WithdrawalPending = true;
                Admission.WithdrawLater(last => RouterLog.SettleFailed(_logger, Work.Id, last));
                withdrawn = true;
            }
            if (withdrawn)
                FloorFilter.RecordRefusal(_floor, metrics.Server, Admission.Caller, Admission.Model, Admission.Endpoint, status, reason);
        }

        private UsageOutcome Outcome(int status) => new()
        {
            RequestId = Work.Id,
            Status = status,
            // A stream cut before its usage came: the prompt was computed if any token came out.
            PromptTokens = _usage.PromptTokens ?? (_usage.TokensSeen > 0 ? Work.Route.Shape.Tokens : 0),
            CachedPromptTokens = _usage.CachedPromptTokens,
            CompletionTokens = _usage.Completion,
            QueueTime = _usage.QueueTime,
            TimeToFirstToken = _usage.TimeToFirstToken ?? TimeSpan.Zero,
            Duration = time.GetElapsedTime(Work.Started),
            Work = _usage.Work,
            Replica = _servedBy?.Name,
            Priority = Work.Route.Priority,
            EnergyEstimated = _usage.EnergyEstimated,
        };
    }
}
