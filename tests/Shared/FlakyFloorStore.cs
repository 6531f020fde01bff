using System.Diagnostics;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.Data.Sqlite;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Tests;

/// <summary>
/// A ledger whose <c>SettleAsync</c> fails as a database that is briefly unavailable does (a <see cref="SqliteException"/>,
/// nothing written): its first few calls, or every call for a while from the first one; every other call reaches the real store.
/// </summary>
/// <remarks>Not sealed: <see cref="DispatchProxy"/> generates the proxy as a type derived from it.</remarks>
public class FlakyFloorStore : DispatchProxy
{
    private IFloorStore _inner = null!;
    private int _failuresLeft;
    private string _failing = nameof(IFloorStore.SettleAsync);
    private TimeSpan _outage;
    private long _outageStarted;

    /// <summary>The first <paramref name="settleFailures"/> settlements fail.</summary>
    public static IFloorStore Wrap(IFloorStore inner, int settleFailures) => Create(inner, settleFailures, TimeSpan.Zero);

    /// <summary>Every settlement fails for <paramref name="outage"/> from the first one (whichever path retries, however often).</summary>
    public static IFloorStore Wrap(IFloorStore inner, TimeSpan outage) => Create(inner, 0, outage);

    /// <summary>The first <paramref name="releaseFailures"/> releases of a reservation (a withdrawal's write) fail.</summary>
    public static IFloorStore WrapReleases(IFloorStore inner, int releaseFailures)
    {
        var proxy = Create(inner, releaseFailures, TimeSpan.Zero);
        ((FlakyFloorStore)(object)proxy)._failing = nameof(IFloorStore.ReleaseReservationAsync);
        return proxy;
    }

    private static IFloorStore Create(IFloorStore inner, int settleFailures, TimeSpan outage)
    {
        var proxy = Create<IFloorStore, FlakyFloorStore>();
        var self = (FlakyFloorStore)(object)proxy;
        self._inner = inner;
        self._failuresLeft = settleFailures;
        self._outage = outage;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == _failing && Fails())
            return Task.FromException(new SqliteException("disk I/O error (the test's flaky ledger)", 10));
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    private bool Fails()
    {
        if (_outage > TimeSpan.Zero)
        {
            Interlocked.CompareExchange(ref _outageStarted, Stopwatch.GetTimestamp(), 0);
            return Stopwatch.GetElapsedTime(Interlocked.Read(ref _outageStarted)) < _outage;
        }
        return Interlocked.Decrement(ref _failuresLeft) >= 0;
    }
}
