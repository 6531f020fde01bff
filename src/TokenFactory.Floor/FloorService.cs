using TokenFactory.Engine;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;
using TokenFactory.Floor.Pricing;
using TokenFactory.Floor.RateLimiting;

namespace TokenFactory.Floor;

/// <summary>
/// The factory floor's gate and meter: who is calling, whether they may run this request now (model,
/// rate limits, budgets), and, when it ends, what it used and cost, written to the ledger.
/// </summary>
public sealed class FloorService(IFloorStore store, FloorOptions options, TimeProvider time, IEnergyMeter? energyMeter = null) : IDisposable
{
    /// <summary>
    /// The last resort for a reservation no live process releases (one written before instances were tracked): it stops
    /// holding budget after this long. A live process's heartbeat keeps pushing its own reservations' expiry out, so a
    /// request that runs longer still holds its budget.
    /// </summary>
    public static readonly TimeSpan ReservationLifetime = TimeSpan.FromHours(1);

    private readonly CostCalculator _cost = new(options.Pricing);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _pending = new();

    public IFloorStore Store => store;
    public FloorOptions Options => options;
    public RateLimiter RateLimiter { get; } = new(time);
    public FloorTotals Totals { get; } = new();
    public IEnergyMeter? EnergyMeter => energyMeter;
    public CostCalculator Cost => _cost;

    /// <summary>This process on the ledger: its reservations are released by others if it dies.</summary>
    public FloorInstance Instance { get; } = FloorInstance.Current(time.GetUtcNow());

    /// <summary>At start-up: registers this process and releases what processes that are gone still hold.</summary>
    public async Task<IReadOnlyList<UsageRecord>> StartAsync(CancellationToken cancellation = default)
    {
        await store.RegisterInstanceAsync(Instance with { Heartbeat = time.GetUtcNow() }, cancellation).ConfigureAwait(false);
        return await ReleaseGoneInstancesAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>Keeps this process registered (registering it again if another process took it for dead).</summary>
    public async Task HeartbeatAsync(CancellationToken cancellation = default)
    {
        var now = time.GetUtcNow();
        if (!await store.HeartbeatAsync(Instance.Id, now, cancellation).ConfigureAwait(false))
            await store.RegisterInstanceAsync(Instance with { Heartbeat = now }, cancellation).ConfigureAwait(false);
        // The reservations of requests still running here, within half a lifetime of lapsing, move out a whole one: a request
        // that runs past an hour keeps holding its budget (it stopped, and another was admitted over the hard limit). Only
        // open ones: a settlement whose retries gave up leaves its reservation to lapse after its hour, as before.
        var until = now + ReservationLifetime;
        var due = _held.Where(h => h.Value < now + ReservationLifetime / 2).Select(h => h.Key).ToList();
        if (due.Count == 0)
            return;
        await store.ExtendReservationsAsync(due, until, cancellation).ConfigureAwait(false);
        foreach (string id in due)
            _held.TryUpdate(id, until, _held.GetValueOrDefault(id));
    }

    /// <summary>Reservations of this process's admissions not yet settled or withdrawn, with the expiry last written.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _held = new();

    /// <summary>Settled, withdrawn, or its retries gave up: the heartbeat no longer keeps its reservation from lapsing.</summary>
    internal void StopExtending(string? reservationId)
    {
        if (reservationId is not null)
            _held.TryRemove(reservationId, out _);
    }

    /// <summary>
    /// Releases the reservations of every registered process that is gone (its heartbeat too old, or, on this
    /// host, its process no longer running) and records their requests as interrupted.
    /// </summary>
    public async Task<IReadOnlyList<UsageRecord>> ReleaseGoneInstancesAsync(CancellationToken cancellation = default)
    {
        var now = time.GetUtcNow();
        var timeout = TimeSpan.FromSeconds(options.InstanceTimeoutSeconds);
        var interrupted = new List<UsageRecord>();
        foreach (var instance in await store.ListInstancesAsync(cancellation).ConfigureAwait(false))
        {
            if (instance.Id == Instance.Id || instance.MayBeAlive(now, timeout))
                continue;
            interrupted.AddRange(await store.ReleaseInstanceAsync(instance.Id, now, cancellation).ConfigureAwait(false));
        }
        return interrupted;
    }

    /// <summary>At a clean shutdown, after the last settlement: nothing is held any more, and the process leaves the ledger.</summary>
    public Task<IReadOnlyList<UsageRecord>> StopAsync(CancellationToken cancellation = default) =>
        store.ReleaseInstanceAsync(Instance.Id, time.GetUtcNow(), cancellation);

    /// <summary>The caller behind an <c>Authorization</c> header; anonymous when the server runs without keys.</summary>
    /// <exception cref="FloorDeniedException">MissingKey, InvalidKey, RevokedKey, ExpiredKey.</exception>
    public async Task<Caller> AuthenticateAsync(string? authorization, CancellationToken cancellation = default)
    {
        if (!options.RequiresKeys)
            return Caller.Anonymous;
        string? secret = BearerToken(authorization);
        if (string.IsNullOrEmpty(secret))
            throw new FloorDeniedException(DenialReason.MissingKey,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        var key = ApiKeySecrets.KeyIdOf(secret) is { } id ? await store.GetKeyAsync(id, cancellation) : null;
        if (key is null || !ApiKeySecrets.Verify(secret, key))
            throw new FloorDeniedException(DenialReason.InvalidKey, $"Incorrect API key provided: {Redact(secret)}.");
        var now = time.GetUtcNow();
        if (key.RevokedAt is not null)
            throw new FloorDeniedException(DenialReason.RevokedKey, $"The API key {key.Id} has been revoked.");
        if (key.ExpiresAt <= now)
            throw new FloorDeniedException(DenialReason.ExpiredKey, $"The API key {key.Id} expired at {key.ExpiresAt:u}.");
        var team = await store.GetTeamAsync(key.TeamId, cancellation)
            ?? throw new FloorDeniedException(DenialReason.InvalidKey, $"The API key {key.Id} belongs to no team.");
        return new Caller(key, team);
    }

    /// <summary>Whether <paramref name="secret"/> is the configured viewer key (the command center's read-only role).</summary>
    public bool IsViewerSecret(string? secret) =>
        !string.IsNullOrEmpty(options.ViewerKey) && !string.IsNullOrEmpty(secret) && ApiKeySecrets.SameSecret(secret, options.ViewerKey);

    /// <summary>Whether <paramref name="secret"/> is the configured admin key.</summary>
    public bool IsAdminSecret(string? secret) =>
        !string.IsNullOrEmpty(options.AdminKey) && !string.IsNullOrEmpty(secret) && ApiKeySecrets.SameSecret(secret, options.AdminKey);

    /// <summary>The secret of a Bearer Authorization header, or null.</summary>
    public static string? BearerSecret(string? authorization) => BearerToken(authorization);

    /// <summary>Whether <paramref name="authorization"/> carries the configured admin key.</summary>
    public bool IsAdmin(string? authorization) =>
        !string.IsNullOrEmpty(options.AdminKey) && BearerToken(authorization) is { Length: > 0 } secret && ApiKeySecrets.SameSecret(secret, options.AdminKey);

    /// <exception cref="FloorDeniedException">ModelNotAllowed.</exception>
    public static void CheckModel(Caller caller, string model)
    {
        if (caller.Key is { } key && !key.Allows(model))
            throw new FloorDeniedException(DenialReason.ModelNotAllowed, $"The API key {key.Id} may not use the model '{model}'.");
    }

    /// <summary>
    /// Admits a request whose worst case is <paramref name="promptTokens"/> plus <paramref name="maxCompletionTokens"/>:
    /// takes it from the rate-limit buckets and reserves it against every budget of the key and the team.
    /// </summary>
    /// <exception cref="FloorDeniedException">ModelNotAllowed, RateLimited or QuotaExceeded.</exception>
    /// <param name="requestId">The id the response will carry; a request cut off by a crash is recorded under it as interrupted.</param>
    public async Task<Admission> AdmitAsync(Caller caller, string model, string endpoint, long promptTokens, long maxCompletionTokens, CancellationToken cancellation = default,
        string? requestId = null)
    {
        CheckModel(caller, model);
        var started = time.GetUtcNow();
        long worstTokens = promptTokens + maxCompletionTokens;
        double worstUsd = _cost.WorstCase(model, promptTokens, maxCompletionTokens);
        var rate = RateLimiter.Acquire(caller, worstTokens);
        string? reservationId = null;
        IReadOnlyList<BudgetStatus> soft = [];
        if (caller.Key is { } key)
        {
            var reservation = new Reservation("rsv_" + Guid.NewGuid().ToString("N"), key.Id, key.TeamId, worstTokens, worstUsd, started, started + ReservationLifetime)
            {
                InstanceId = Instance.Id, RequestId = requestId, Model = model, Endpoint = endpoint,
            };
            ReservationOutcome outcome;
            try
            {
                outcome = await store.TryReserveAsync(reservation, started, cancellation);
            }
            catch
            {
                RateLimiter.Refund(caller, worstTokens);
                throw;
            }
            if (!outcome.Admitted)
            {
                RateLimiter.Refund(caller, worstTokens);
                var refusing = outcome.Refusing!;
                throw new FloorDeniedException(DenialReason.QuotaExceeded,
                    $"You exceeded your current quota: the {refusing.Budget.Describe()} has {BudgetText.Amount(refusing.Budget.Unit, Math.Max(0, refusing.Budget.Hard - refusing.Spent - refusing.Reserved))} left "
                    + $"and this request may use up to {BudgetText.Amount(refusing.Budget.Unit, refusing.Budget.Unit == BudgetUnit.Tokens ? worstTokens : worstUsd)}.")
                { RateLimit = rate };
            }
            reservationId = outcome.Stored ? reservation.Id : null;
            if (reservationId is not null)
                _held[reservationId] = reservation.ExpiresAt;
            soft = outcome.SoftReached;
        }
        return new Admission(this, caller, model, endpoint, started, reservationId, worstTokens, worstUsd, rate, soft);
    }

    /// <summary>Refused requests, counted per minute, key and reason, written to the ledger in batches.</summary>
    public RefusalLog Refusals { get; } = new(store, time);

    internal async Task SettleAsync(Admission admission, UsageOutcome outcome, CancellationToken cancellation)
    {
        var (input, output) = _cost.Cost(admission.Model, outcome.PromptTokens, outcome.CachedPromptTokens, outcome.CompletionTokens, outcome.Work);
        var record = new UsageRecord
        {
            RequestId = outcome.RequestId,
            Time = admission.Started,
            KeyId = admission.Caller.KeyId,
            TeamId = admission.Caller.TeamId,
            Model = admission.Model,
            Endpoint = admission.Endpoint,
            Status = outcome.Status,
            PromptTokens = outcome.PromptTokens,
            CachedPromptTokens = outcome.CachedPromptTokens,
            CompletionTokens = outcome.CompletionTokens,
            QueueSeconds = outcome.QueueTime.TotalSeconds,
            TimeToFirstTokenSeconds = outcome.TimeToFirstToken.TotalSeconds,
            DurationSeconds = outcome.Duration.TotalSeconds,
            EnergyJoules = outcome.Work.Joules,
            EnergyEstimated = outcome.EnergyEstimated ?? energyMeter?.IsEstimated ?? false,
            InputCostUsd = input,
            OutputCostUsd = output,
            Replica = outcome.Replica,
        };
        // Measured cost is unknown at admission: a budget is charged at most what the request reserved.
        double charged = admission.ReservationId is null ? record.CostUsd : Math.Min(record.CostUsd, admission.WorstUsd);
        await store.SettleAsync(record, admission.ReservationId, charged, cancellation);
        StopExtending(admission.ReservationId); // settled: released with the line
        RateLimiter.Refund(admission.Caller, admission.WorstTokens - record.TotalTokens);
        Totals.Add(record);
        Settled?.Invoke(record, outcome.Priority ?? PriorityClasses.Of(admission.Caller));
    }

    /// <summary>
    /// Raised once per ledger line, after it is written, with the class the request ran in (the command center's live
    /// figures). Handlers run on the settling thread and must be quick and never throw.
    /// </summary>
    public event Action<UsageRecord, string>? Settled;

    internal async Task WithdrawAsync(Admission admission, CancellationToken cancellation)
    {
        if (admission.ReservationId is { } reservation)
        {
            await store.ReleaseReservationAsync(reservation, cancellation).ConfigureAwait(false);
            StopExtending(reservation);
        }
        RateLimiter.Refund(admission.Caller, admission.WorstTokens);
    }

    /// <summary>Tracks a settlement that runs after its response ended (failed or cancelled requests), so shutdown can wait for it.</summary>
    public void Track(Task settlement)
    {
        _pending.TryAdd(settlement, 0);
        settlement.ContinueWith(t => _pending.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>How long a settlement the ledger refused waits before each further try (31 s in all).</summary>
    internal static readonly TimeSpan[] RetryDelays = [.. new[] { 1, 2, 4, 8, 16 }.Select(s => TimeSpan.FromSeconds(s))];

    /// <summary>
    /// Runs <paramref name="attempt"/> after each of <see cref="RetryDelays"/> until it does not throw (it returns false
    /// when someone else settled it meanwhile: done too), then <paramref name="done"/>; <paramref name="gaveUp"/> gets the
    /// last failure when every try failed. Tracked, so shutdown waits for it (bounded).
    /// </summary>
    internal void RetryInBackground(Func<Task<bool>> attempt, Action<Exception> gaveUp, Action? done) => Track(Task.Run(async () =>
    {
        Exception? last = null;
        foreach (var delay in RetryDelays)
        {
            await Task.Delay(delay, time).ConfigureAwait(false);
            try
            {
                if (await attempt().ConfigureAwait(false))
                    done?.Invoke();
                return;
            }
            catch (Exception e)
            {
                last = e;
            }
        }
        gaveUp(last!);
    }));

    /// <summary>Waits (bounded) for settlements still running; at shutdown, before the store closes.</summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var pending = _pending.Keys.ToArray();
        if (pending.Length > 0)
            await Task.WhenAny(Task.WhenAll(pending), Task.Delay(timeout)).ConfigureAwait(false);
    }

    private static string? BearerToken(string? authorization)
    {
        if (authorization is null)
            return null;
        const string scheme = "Bearer ";
        return authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? authorization[scheme.Length..].Trim() : null;
    }

    /// <summary>
    /// A refused secret as the error shows it: one of ours by its key id (not secret) and its last 4 characters; anything
    /// else (an admin or viewer key sent to /v1 by mistake, whatever its length) not at all, since the message is answered
    /// and logged.
    /// </summary>
    internal static string Redact(string secret) =>
        ApiKeySecrets.KeyIdOf(secret) is { } id && secret.Length >= id.Length + 24 ? $"tf-{id}-****{secret[^4..]}" : "****";

    /// <summary>Closes the meter's counters (RAPL keeps its sysfs files open); the store is the container's to dispose.</summary>
    public void Dispose() => (energyMeter as IDisposable)?.Dispose();
}
