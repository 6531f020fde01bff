using Microsoft.Extensions.Logging;

namespace TokenFactory.Router;

internal static partial class RouterLog
{
    [LoggerMessage(200, LogLevel.Warning, "Replica {Replica} cannot be reached: out of rotation until it answers again")]
    public static partial void ReplicaDown(ILogger logger, string replica);

    [LoggerMessage(201, LogLevel.Information, "Replica {Replica} answers again: back in rotation")]
    public static partial void ReplicaBack(ILogger logger, string replica);

    [LoggerMessage(202, LogLevel.Error, "Replica {Replica} refuses the router's internal token: give the router and every replica the same TOKENFACTORY_INTERNAL_TOKEN")]
    public static partial void TokenRefused(ILogger logger, string replica);

    [LoggerMessage(203, LogLevel.Warning, "Request {RequestId}: {Reason} from {Replica} before anything was sent (attempt {Attempt} of 2)")]
    public static partial void Failover(ILogger logger, string requestId, string replica, string reason, int attempt);

    [LoggerMessage(204, LogLevel.Warning, "Request {RequestId}: the stream from {Replica} broke off after {Tokens} tokens; the client got an error event and the tokens are metered")]
    public static partial void StreamCut(ILogger logger, string requestId, string replica, long tokens);

    [LoggerMessage(205, LogLevel.Information, "Routing to {Count} replicas ({Replicas}) with the {Policy} policy; models with a tokenizer: {Models}")]
    public static partial void Ready(ILogger logger, int count, string replicas, string policy, string models);

    [LoggerMessage(206, LogLevel.Error, "Request {RequestId}: the router could not forward it to {Replica} ({Error})")]
    public static partial void ForwardFailed(ILogger logger, string requestId, string replica, string error, Exception? exception);

    [LoggerMessage(207, LogLevel.Warning, "Request {RequestId}: the ledger refused its line; retrying in the background (its reservation is held until then)")]
    public static partial void SettleRetrying(ILogger logger, string requestId, Exception exception);

    [LoggerMessage(208, LogLevel.Error, "Request {RequestId}: the ledger refused its line five more times; its reservation is released when this router stops, or after an hour")]
    public static partial void SettleFailed(ILogger logger, string requestId, Exception exception);
}
