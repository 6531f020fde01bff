using Microsoft.Extensions.Logging;

namespace TokenFactory.Server.Floor;

internal static partial class FloorLog
{
    [LoggerMessage(100, LogLevel.Warning, "AUTHENTICATION IS OFF (TokenFactory:Floor:Auth=none / --no-auth): anyone who can reach this server may use it. For local use only; create keys with `tokenfactory keys create` and drop --no-auth for anything shared.")]
    public static partial void NoAuth(ILogger logger);

    [LoggerMessage(101, LogLevel.Information, "Factory floor: ledger {Where}; energy meter: {Meter}; admin API {Admin}")]
    public static partial void Ready(ILogger logger, string where, string meter, string admin);

    [LoggerMessage(102, LogLevel.Error, "Request {RequestId}: the ledger refused its line five more times; its reservation is released when this server stops, or after an hour")]
    public static partial void SettleFailed(ILogger logger, Exception exception, string requestId);

    [LoggerMessage(109, LogLevel.Warning, "Request {RequestId}: the ledger refused its line (or its release); retrying in the background (its reservation is held until then)")]
    public static partial void SettleRetrying(ILogger logger, Exception exception, string requestId);

    [LoggerMessage(103, LogLevel.Error, "Could not write refusal counts to the ledger; they are kept for the next attempt")]
    public static partial void RefusalFlushFailed(ILogger logger, Exception exception);

    [LoggerMessage(105, LogLevel.Warning, "API keys are required but none exist and no admin key is set, so every request will get 401. Set TOKENFACTORY_ADMIN_KEY and create keys (`tokenfactory teams create T`, `tokenfactory keys create --team T`), or run with --no-auth for local use.")]
    public static partial void Locked(ILogger logger);

    [LoggerMessage(104, LogLevel.Warning, "Budget soft limit reached: {Budget} (spent {Spent})")]
    public static partial void SoftLimit(ILogger logger, string budget, string spent);

    [LoggerMessage(106, LogLevel.Warning, "Released the budget reservations of {Count} requests held by server processes that stopped without settling them (teams: {Teams}); they are in the ledger as interrupted (status 0)")]
    public static partial void ReleasedInterrupted(ILogger logger, int count, string teams);

    [LoggerMessage(107, LogLevel.Warning, "Could not leave the ledger's list of live processes at shutdown; another process releases this one's entries once its heartbeat is old")]
    public static partial void InstanceLeaveFailed(ILogger logger, Exception exception);

    [LoggerMessage(108, LogLevel.Warning, "Could not heartbeat or check other server processes in the ledger; retrying")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);
}
