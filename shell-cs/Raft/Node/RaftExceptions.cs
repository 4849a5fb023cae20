using Raft.Core;

namespace Raft.Node;

/// <summary>The base of every failure the node host reports to a caller.</summary>
public class RaftException : Exception
{
    public RaftException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>This node is not the group's leader; retry on <see cref="LeaderHint"/> when it is non-zero.</summary>
public sealed class NotLeaderException : RaftException
{
    public NotLeaderException(long groupId, long nodeId, long leaderHint)
        : base(leaderHint == 0
            ? $"Node {nodeId} is not the leader of group {groupId} and knows no leader yet."
            : $"Node {nodeId} is not the leader of group {groupId}; the leader is node {leaderHint}.")
    {
        GroupId = groupId;
        LeaderHint = leaderHint;
    }

    /// <summary>The group asked.</summary>
    public long GroupId { get; }

    /// <summary>The leader this node knows of, or 0 when none.</summary>
    public long LeaderHint { get; }
}

/// <summary>A proposal this node forwarded to the leader did not reach it, or the leader dropped it, lost it to a newer
/// leader or shut down (<see cref="Exception.Message"/> says which). Like a timeout, a loss after the leader appended
/// it does not mean the command was not applied.</summary>
public sealed class ForwardingFailedException : RaftException
{
    public ForwardingFailedException(long groupId, long leader, string reason)
        : base($"Group {groupId}: the proposal forwarded to node {leader} failed: {reason}")
    {
        GroupId = groupId;
        Leader = leader;
    }

    /// <summary>The group proposed to.</summary>
    public long GroupId { get; }

    /// <summary>The node the proposal was forwarded to.</summary>
    public long Leader { get; }
}

/// <summary>The core refused the proposal or read for a reason other than "not leader".</summary>
public sealed class ProposalDroppedException : RaftException
{
    public ProposalDroppedException(long groupId, DropReason reason)
        : base($"Group {groupId} dropped the request: {Describe(reason)}.")
    {
        GroupId = groupId;
        Reason = reason;
    }

    /// <summary>The group asked.</summary>
    public long GroupId { get; }

    /// <summary>The core's reason.</summary>
    public DropReason Reason { get; }

    internal static string Describe(DropReason reason) => reason.Tag switch
    {
        DropReason.Tags.NotLeader => "not the leader",
        DropReason.Tags.TransferInProgress => "a leadership transfer is in progress",
        DropReason.Tags.UncommittedLimit => "the leader's uncommitted-bytes limit is reached",
        DropReason.Tags.ConfigChangePending => "a configuration change is pending",
        DropReason.Tags.LeadershipLost => "leadership was lost",
        DropReason.Tags.InvalidConfigChange => "invalid configuration change: " + ((DropReason.InvalidConfigChange)reason).Item,
        DropReason.Tags.InvalidTransfer => "invalid transfer: " + ((DropReason.InvalidTransfer)reason).Item,
        DropReason.Tags.TransferAborted => "transfer aborted: " + ((DropReason.TransferAborted)reason).Item,
        _ => reason.ToString(),
    };
}

/// <summary>The proposal was appended but a later leader overwrote it: it was never committed and will never apply.
/// Retrying is safe only if the command is idempotent or de-duplicated by the state machine.</summary>
public sealed class ProposalLostException : RaftException
{
    /// <param name="groupId">The group proposed to.</param>
    /// <param name="index">The index the proposal was appended at.</param>
    /// <param name="term">The term it was appended in (0 when not known: a proposal forwarded to the leader that lost it).</param>
    /// <param name="appliedTerm">The term of the entry applied at <paramref name="index"/> instead (0 when not known).</param>
    public ProposalLostException(long groupId, long index, long term, long appliedTerm)
        : base($"The proposal at index {index}{(term > 0 ? $" (term {term})" : "")} of group {groupId} was overwritten"
            + (appliedTerm > 0 ? $" by an entry of term {appliedTerm}." : " by a later leader's entries."))
    {
        GroupId = groupId;
        Index = index;
        AppliedTerm = appliedTerm;
    }

    /// <summary>The group proposed to.</summary>
    public long GroupId { get; }
    /// <summary>The index the proposal was appended at.</summary>
    public long Index { get; }
    /// <summary>The term of the entry applied at <see cref="Index"/> instead, 0 when not known.</summary>
    public long AppliedTerm { get; }
}

/// <summary>This node waited for a proposal or configuration change of an earlier leadership and then installed a
/// snapshot covering its index: the snapshot holds the state after it, not whether it applied. It may have committed or
/// been overwritten; retrying is safe only if the command is idempotent or de-duplicated by the state machine.</summary>
public sealed class OutcomeUnknownException : RaftException
{
    public OutcomeUnknownException(long groupId, long index, long snapshotIndex, string what)
        : base($"The outcome of the {what} at index {index} of group {groupId} is unknown: an installed snapshot replaced the log up to {snapshotIndex}.")
    {
        GroupId = groupId;
        Index = index;
        SnapshotIndex = snapshotIndex;
    }

    /// <summary>The group asked.</summary>
    public long GroupId { get; }

    /// <summary>The index the request was appended at.</summary>
    public long Index { get; }

    /// <summary>The last index the installed snapshot covers.</summary>
    public long SnapshotIndex { get; }
}

/// <summary>The request did not complete within its timeout. A proposal may still commit later.</summary>
public sealed class RaftTimeoutException : TimeoutException
{
    public RaftTimeoutException(long groupId, TimeSpan timeout, string what)
        : base($"{what} on group {groupId} did not complete within {timeout.TotalMilliseconds:0} ms; a proposal may still commit later.")
    {
        GroupId = groupId;
    }

    public long GroupId { get; }
}

/// <summary>The node is stopping (or stopped), or the group was removed: the request was not, or may not have been, completed.</summary>
public sealed class RaftShutdownException : RaftException
{
    public RaftShutdownException(string message) : base(message) { }
}

/// <summary>No group with this id exists on this node.</summary>
public sealed class GroupNotFoundException : RaftException
{
    public GroupNotFoundException(long groupId) : base($"Group {groupId} does not exist on this node.") => GroupId = groupId;

    public long GroupId { get; }
}

/// <summary>The entry committed, but the user's state machine threw while applying it.</summary>
public sealed class StateMachineException : RaftException
{
    public StateMachineException(long groupId, long index, Exception inner)
        : base($"The state machine of group {groupId} threw applying index {index}: {inner.Message}", inner)
    {
        GroupId = groupId;
        Index = index;
    }

    public long GroupId { get; }
    public long Index { get; }
}

/// <summary>The group stopped after a broken invariant or a storage failure; the node's other groups keep running.</summary>
public sealed class GroupFaultedException : RaftException
{
    public GroupFaultedException(long groupId, Exception inner)
        : base($"Group {groupId} stopped after a failure: {inner.Message}", inner) => GroupId = groupId;

    public long GroupId { get; }
}

/// <summary>A leadership transfer was refused (invalid target, not the leader, transfer already running) or
/// started and then aborted (the target did not catch up or win in time); <see cref="Reason"/> says which.</summary>
public sealed class LeadershipTransferException : RaftException
{
    public LeadershipTransferException(long groupId, long target, DropReason reason)
        : base($"Leadership transfer of group {groupId} to node {target} failed: {ProposalDroppedException.Describe(reason)}.")
    {
        GroupId = groupId;
        Target = target;
        Reason = reason;
    }

    public long GroupId { get; }

    /// <summary>The node leadership was to move to.</summary>
    public long Target { get; }

    /// <summary>The core's reason (InvalidTransfer, TransferAborted, NotLeader, TransferInProgress, ...).</summary>
    public DropReason Reason { get; }
}

/// <summary>A membership change was refused: it is unsafe or malformed (<c>InvalidConfigChange</c>) or another
/// configuration change is still pending (<c>ConfigChangePending</c>; retry once it is applied).</summary>
public sealed class MembershipChangeException : RaftException
{
    public MembershipChangeException(long groupId, ConfChange change, DropReason reason)
        : base($"Membership change {change} of group {groupId} was refused: {ProposalDroppedException.Describe(reason)}.")
    {
        GroupId = groupId;
        Change = change;
        Reason = reason;
    }

    public long GroupId { get; }

    /// <summary>The change that was asked for.</summary>
    public ConfChange Change { get; }

    /// <summary>The core's reason.</summary>
    public DropReason Reason { get; }
}
