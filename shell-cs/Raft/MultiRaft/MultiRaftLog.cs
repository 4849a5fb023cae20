using Microsoft.Extensions.Logging;

namespace Raft.MultiRaft;

/// <summary>The placement layer's log messages.</summary>
internal static partial class MultiRaftLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Node {NodeId}: a reconcile pass failed; it runs again")]
    public static partial void PassFailed(ILogger logger, long nodeId, Exception exception);

    [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "Group {GroupId}: {Change} of node {Node} not done ({Reason}); retried next pass")]
    public static partial void ChangeRetried(ILogger logger, long groupId, string change, long node, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Node {NodeId}: a balancer round failed")]
    public static partial void BalanceFailed(ILogger logger, long nodeId, Exception exception);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "Group {GroupId}: leadership transfer to node {Target} failed: {Reason}")]
    public static partial void TransferFailed(ILogger logger, long groupId, long target, string reason);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Node {NodeId}: handing leaderships off before stopping failed")]
    public static partial void HandOffFailed(ILogger logger, long nodeId, Exception exception);

    [LoggerMessage(EventId = 305, Level = LogLevel.Information, Message = "Node {NodeId}: deleted the data it kept of group {GroupId}, {Why}")]
    public static partial void DeletedStored(ILogger logger, long nodeId, long groupId, string why);
}
