namespace Raft.Serialization;

/// <summary>A node-to-node message of the host rather than the Raft core: proposals a follower forwards to its
/// leader, and the leader's answers. It travels in a <see cref="RaftEnvelope{T}"/> of the group it belongs to.</summary>
public abstract record HostMessage<T>;

/// <summary>Commands a follower's callers proposed, forwarded to the node it believes leads the group. The leader
/// answers every command with a <see cref="ForwardedOutcome{T}"/> naming <see cref="RequestId"/> and its slot.</summary>
/// <param name="RequestId">Chosen by the follower, unique among its requests.</param>
/// <param name="Commands">The commands, in the order the follower's callers proposed them.</param>
/// <param name="TraceParents">Per command, the W3C traceparent of the follower's forwarding span (null when not traced).</param>
public sealed record ForwardedProposals<T>(long RequestId, T[] Commands, string?[]? TraceParents = null) : HostMessage<T>;

/// <summary>What became of one forwarded command.</summary>
/// <param name="RequestId">The request it answers.</param>
/// <param name="Slot">The command's position in the request.</param>
/// <param name="Status">Applied, or why not.</param>
/// <param name="Index">The log index it was applied at (when applied or failed in the state machine), or appended at
/// (when lost).</param>
/// <param name="Term">The term of the entry applied at that index (when lost: the entry that overwrote it, 0 if not known).</param>
/// <param name="Result">The state machine's result, serialized with the user's MessagePack options (when applied).</param>
/// <param name="Error">Why it failed, for the caller's exception (otherwise null).</param>
/// <param name="LeaderHint">The node the answering node believes leads (when it does not), 0 if unknown.</param>
public sealed record ForwardedOutcome<T>(long RequestId, int Slot, ForwardStatus Status, long Index, long Term, byte[]? Result,
    string? Error, long LeaderHint) : HostMessage<T>;

/// <summary>How a forwarded command ended on the leader (wire values are stable).</summary>
public enum ForwardStatus : byte
{
    /// <summary>Committed and applied; the result is attached.</summary>
    Applied = 0,
    /// <summary>The receiving node does not lead the group (any more); the leader hint is attached.</summary>
    NotLeader = 1,
    /// <summary>The state machine threw while applying it.</summary>
    ApplyFailed = 2,
    /// <summary>Dropped, hidden by a snapshot, or the leader is shutting down: the error says which. It may have applied.</summary>
    Failed = 3,
    /// <summary>Appended, then overwritten by a later leader's entry: it never applied and never will.</summary>
    Lost = 4,
}
