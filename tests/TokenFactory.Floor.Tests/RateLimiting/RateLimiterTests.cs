using Microsoft.Extensions.Time.Testing;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.RateLimiting;

namespace TokenFactory.Floor.Tests.RateLimiting;

/// <summary>RPM and TPM buckets on a fake clock: exact refill times, the tighter of key and team, refunds, resets.</summary>
public sealed class RateLimiterTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 18, 15, 30, 0, TimeSpan.Zero);

    private static Caller Caller(int? keyRpm = null, int? keyTpm = null, int? teamRpm = null, int? teamTpm = null, string key = "key_a", string team = "t")
    {
        var t = new Team { Id = team, CreatedAt = Start, Limits = new RateLimits(teamRpm, teamTpm) };
        var k = new ApiKey { Id = key, TeamId = team, Name = key, Salt = "", Hash = "", CreatedAt = Start, Limits = new RateLimits(keyRpm, keyTpm) };
        return new Caller(k, t);
    }

    [Fact]
    public void A_burst_up_to_the_limit_then_one_request_per_sixtieth_of_a_minute()
    {
        var clock = new FakeTimeProvider(Start);
        var limiter = new RateLimiter(clock);
        var caller = Caller(keyRpm: 3);
        for (int i = 0; i < 3; i++)
            Assert.Equal(2 - i, limiter.Acquire(caller, 0)!.RequestsRemaining);
        var refused = Assert.Throws<FloorDeniedException>(() => limiter.Acquire(caller, 0));
        Assert.Equal((DenialReason.RateLimited, "requests"), (refused.Reason, refused.LimitKind));
        Assert.Equal(TimeSpan.FromSeconds(20), refused.RetryAfter); // 3 per minute: one every 20 s
        Assert.Equal("1m0s", RateLimitStatus.FormatReset(refused.RateLimit!.RequestsReset));

        clock.Advance(TimeSpan.FromSeconds(19.9));
        Assert.Throws<FloorDeniedException>(() => limiter.Acquire(caller, 0));
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(0, limiter.Acquire(caller, 0)!.RequestsRemaining);
        clock.Advance(TimeSpan.FromMinutes(5)); // never more than the burst
        Assert.Equal(2, limiter.Acquire(caller, 0)!.RequestsRemaining);
    }

    [Fact]
    public void Tokens_take_the_worst_case_and_refunds_give_back_what_was_not_used()
    {
        var clock = new FakeTimeProvider(Start);
        var limiter = new RateLimiter(clock);
        var caller = Caller(teamTpm: 300);
        Assert.Equal(100, limiter.Acquire(caller, 200)!.TokensRemaining);
        var refused = Assert.Throws<FloorDeniedException>(() => limiter.Acquire(caller, 150));
        Assert.Equal(TimeSpan.FromSeconds(10), refused.RetryAfter); // 50 missing at 5 per second
        limiter.Refund(caller, 120); // the first request used 80 of its 200
        Assert.Equal(70, limiter.Acquire(caller, 150)!.TokensRemaining);
        var never = Assert.Throws<FloorDeniedException>(() => limiter.Acquire(caller, 301));
        Assert.Null(never.RetryAfter); // more than the whole limit: no wait helps
        Assert.Contains("can never fit", never.Message);
    }

    [Fact]
    public void The_tighter_of_the_key_and_its_team_decides_and_a_refusal_takes_nothing()
    {
        var clock = new FakeTimeProvider(Start);
        var limiter = new RateLimiter(clock);
        var alice = Caller(keyRpm: 10, teamRpm: 2, key: "key_alice");
        var bob = Caller(keyRpm: 10, teamRpm: 2, key: "key_bob");
        Assert.Equal(1, limiter.Acquire(alice, 0)!.RequestsRemaining); // the team's bucket is the tighter
        limiter.Acquire(bob, 0);
        Assert.Throws<FloorDeniedException>(() => limiter.Acquire(alice, 0));
        // The refused request took nothing from the key's own bucket.
        var status = limiter.Status(Caller(keyRpm: 10, key: "key_alice", team: "other"))!;
        Assert.Equal(9, status.RequestsRemaining);
        Assert.Null(limiter.Acquire(Caller(key: "key_free", team: "free"), 1_000_000)); // no limits at all
    }

    [Fact]
    public void A_changed_limit_starts_a_full_bucket()
    {
        var limiter = new RateLimiter(new FakeTimeProvider(Start));
        limiter.Acquire(Caller(keyRpm: 1), 0);
        Assert.Throws<FloorDeniedException>(() => limiter.Acquire(Caller(keyRpm: 1), 0));
        Assert.Equal(4, limiter.Acquire(Caller(keyRpm: 5), 0)!.RequestsRemaining);
    }

    /// <summary>
    /// A request admitted under the old limit refunds into the bucket as it is now: it settled with the caller read at
    /// admission, and rebuilt that caller's bucket (full) from the old limit, so every old request's settlement handed the
    /// key a full bucket again.
    /// </summary>
    [Fact]
    public void A_refund_after_the_limit_changed_goes_into_the_current_bucket_and_never_refills_it()
    {
        var limiter = new RateLimiter(new FakeTimeProvider(Start));
        var before = Caller(keyTpm: 1000);
        limiter.Acquire(before, 800);                     // in flight under the old limit
        var after = Caller(keyTpm: 500);                  // the admin lowers it
        Assert.Equal(200, limiter.Acquire(after, 300)!.TokensRemaining);
        limiter.Refund(before, 50);                       // the old request used 750 of its 800
        Assert.Equal(250, limiter.Status(after)!.TokensRemaining);
        Assert.Throws<FloorDeniedException>(() => limiter.Acquire(after, 300));
    }
}
