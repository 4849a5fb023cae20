using Microsoft.Extensions.Logging;

namespace Raft.Node;

/// <summary>Every log line of the node host, as source-generated <see cref="LoggerMessageAttribute"/> methods.</summary>
internal static partial class NodeLog
{
    [LoggerMessage(1000, LogLevel.Information, "Node {NodeId} started with {Groups} group(s)")]
    public static partial void Started(ILogger logger, long nodeId, int groups);

    [LoggerMessage(1001, LogLevel.Information, "Node {NodeId} stopped")]
    public static partial void Stopped(ILogger logger, long nodeId);

    [LoggerMessage(1002, LogLevel.Information, "Group {GroupId} {Action} on node {NodeId} (last index {LastIndex}, term {Term})")]
    public static partial void GroupOpened(ILogger logger, long groupId, string action, long nodeId, long lastIndex, long term);

    [LoggerMessage(1003, LogLevel.Information, "Group {GroupId} removed from node {NodeId}")]
    public static partial void GroupRemoved(ILogger logger, long groupId, long nodeId);

    [LoggerMessage(1015, LogLevel.Information, "Group {GroupId}: node {NodeId} installed the leader's snapshot at index {Index} (term {Term})")]
    public static partial void SnapshotInstalled(ILogger logger, long groupId, long nodeId, long index, long term);

    [LoggerMessage(1016, LogLevel.Information, "Group {GroupId}: node {NodeId} resumes receiving the snapshot at index {Index} (term {Term}) at byte {Offset}, where its durable chunks end")]
    public static partial void SnapshotReceiveResumed(ILogger logger, long groupId, long nodeId, long index, long term, long offset);

    [LoggerMessage(1017, LogLevel.Warning, "Group {GroupId}: node {NodeId} cannot resume the snapshot it was receiving: {Reason}")]
    public static partial void PartialSnapshotDiscarded(ILogger logger, long groupId, long nodeId, string reason);

    [LoggerMessage(1010, LogLevel.Information, "Group {GroupId}: node {NodeId} is {Role} in term {Term}, leader {Leader}")]
    public static partial void RoleChanged(ILogger logger, long groupId, long nodeId, RaftRole role, long term, long leader);

    [LoggerMessage(1020, LogLevel.Critical, "Group {GroupId} on node {NodeId} stopped after a failure")]
    public static partial void GroupFaulted(ILogger logger, Exception exception, long groupId, long nodeId);

    [LoggerMessage(1023, LogLevel.Critical, "Node {NodeId}: its shared log in '{Directory}' failed a write or fdatasync; all {Groups} more groups on it stopped. Restart the node once the disk works: recovery keeps what was durable")]
    public static partial void SharedLogFailed(ILogger logger, Exception exception, string directory, int groups, long nodeId);

    [LoggerMessage(1021, LogLevel.Error, "The state machine of group {GroupId} threw applying index {Index}")]
    public static partial void ApplyFailed(ILogger logger, Exception exception, long groupId, long index);

    [LoggerMessage(1022, LogLevel.Error, "Node loop {NodeId} failed")]
    public static partial void LoopFailed(ILogger logger, Exception exception, long nodeId);

    [LoggerMessage(1031, LogLevel.Debug, "Message for unknown group {GroupId} from node {From} dropped")]
    public static partial void UnknownGroup(ILogger logger, long groupId, long from);

    [LoggerMessage(1032, LogLevel.Debug, "Transport refused {Count} message(s) for node {Peer}")]
    public static partial void SendDropped(ILogger logger, int count, long peer);

    [LoggerMessage(1040, LogLevel.Debug, "Node {NodeId}: {Quiescent} of {Groups} groups quiescent")]
    public static partial void Quiescence(ILogger logger, long nodeId, int quiescent, int groups);
}
