using System.Collections.Concurrent;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Floor.RateLimiting;

/// <summary>
/// Requests-per-minute and tokens-per-minute buckets per key and per team. Buckets live in this process:
/// replicas sharing PostgreSQL share budgets, but each enforces rate limits on its own traffic.
/// </summary>
public sealed class RateLimiter(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new();

    /// <summary>Takes one request and <paramref name="tokens"/> tokens from every bucket of the caller, or none.</summary>
    /// <exception cref="FloorDeniedException">RateLimited, with the wait and the headers' state.</exception>
    public RateLimitStatus? Acquire(Caller caller, long tokens)
    {
        var buckets = BucketsOf(caller);
        if (buckets.Count == 0)
            return null;
        var taken = new List<(TokenBucket Bucket, long Amount)>();
        foreach (var (bucket, isTokens, name) in buckets)
        {
            long amount = isTokens ? tokens : 1;
            if (bucket.TryTake(amount, time, out var wait))
            {
                taken.Add((bucket, amount));
                continue;
            }
            foreach (var (b, a) in taken)
                b.Return(a, time);
            string what = isTokens ? "tokens" : "requests";
            string message = wait == TimeSpan.MaxValue
                ? $"Rate limit of {name} is {bucket.Capacity} {what} per minute; this request needs {amount} and can never fit. Lower max_tokens."
                : $"Rate limit reached for {name}: {bucket.Capacity} {what} per minute. Please try again in {RateLimitStatus.FormatReset(wait)}.";
            throw new FloorDeniedException(DenialReason.RateLimited, message)
            {
                RetryAfter = wait == TimeSpan.MaxValue ? null : wait,
                RateLimit = Status(caller),
                LimitKind = what,
            };
        }
        return Status(caller);
    }

    /// <summary>
    /// Returns tokens reserved at admission but not used, to the caller's token buckets as they are now: the caller's
    /// limits were read at admission, and should an admin have changed them since, rebuilding the bucket from them would
    /// hand the key a full bucket at every old request's settlement (a refund never creates or replaces a bucket).
    /// </summary>
    public void Refund(Caller caller, long tokens)
    {
        if (tokens <= 0)
            return;
        foreach (string owner in Owners(caller))
        {
            if (_buckets.TryGetValue($"{owner}:tpm", out var bucket))
                bucket.Return(tokens, time);
        }
    }

    private static IEnumerable<string> Owners(Caller caller)
    {
        if (caller.Key is { } key)
            yield return $"key {key.Id}";
        if (caller.Team is { } team)
            yield return $"team {team.Id}";
    }

    public RateLimitStatus? Status(Caller caller)
    {
        var buckets = BucketsOf(caller);
        if (buckets.Count == 0)
            return null;
        (long? limit, long remaining, TimeSpan reset)[] tightest = [(null, long.MaxValue, TimeSpan.Zero), (null, long.MaxValue, TimeSpan.Zero)];
        foreach (var (bucket, isTokens, _) in buckets)
        {
            var (remaining, untilFull) = bucket.Peek(time);
            int i = isTokens ? 1 : 0;
            if (remaining < tightest[i].remaining)
                tightest[i] = (bucket.Capacity, remaining, untilFull);
        }
        return new RateLimitStatus(tightest[0].limit, tightest[0].limit is null ? 0 : tightest[0].remaining, tightest[0].reset,
            tightest[1].limit, tightest[1].limit is null ? 0 : tightest[1].remaining, tightest[1].reset);
    }

    private List<(TokenBucket Bucket, bool IsTokens, string Name)> BucketsOf(Caller caller)
    {
        var list = new List<(TokenBucket, bool, string)>(4);
        if (caller.Key is { } key)
            Add(list, $"key {key.Id}", key.Limits);
        if (caller.Team is { } team)
            Add(list, $"team {team.Id}", team.Limits);
        return list;
    }

    private void Add(List<(TokenBucket, bool, string)> list, string owner, RateLimits limits)
    {
        if (limits.RequestsPerMinute is int rpm && rpm > 0)
            list.Add((Bucket($"{owner}:rpm", rpm), false, owner));
        if (limits.TokensPerMinute is int tpm && tpm > 0)
            list.Add((Bucket($"{owner}:tpm", tpm), true, owner));
    }

    /// <summary>A limit changed by the admin API gets a fresh, full bucket.</summary>
    private TokenBucket Bucket(string name, long capacity)
    {
        var bucket = _buckets.GetOrAdd(name, _ => new TokenBucket(capacity, time.GetTimestamp()));
        if (bucket.Capacity == capacity)
            return bucket;
        var fresh = new TokenBucket(capacity, time.GetTimestamp());
        _buckets[name] = fresh;
        return fresh;
    }
}
