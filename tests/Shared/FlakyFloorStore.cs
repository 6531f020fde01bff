using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.Data.Sqlite;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Router.Tests.Infrastructure;

/// <summary>
/// A ledger whose first <c>SettleAsync</c> calls fail as a database that is briefly unavailable does (a
/// <see cref="SqliteException"/>, nothing written); every other call reaches the real store.
/// </summary>
/// <remarks>Not sealed: <see cref="DispatchProxy"/> generates the proxy as a type derived from it.</remarks>
public class FlakyFloorStore : DispatchProxy
{
    private IFloorStore _inner = null!;
    private int _failuresLeft;

    public static IFloorStore Wrap(IFloorStore inner, int settleFailures)
    {
        var proxy = Create<IFloorStore, FlakyFloorStore>();
        var self = (FlakyFloorStore)(object)proxy;
        self._inner = inner;
        self._failuresLeft = settleFailures;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == nameof(IFloorStore.SettleAsync) && Interlocked.Decrement(ref _failuresLeft) >= 0)
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
}
