using Raft.Core;

namespace Raft.Node;

/// <summary>A node's role in one group.</summary>
public enum RaftRole
{
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// <summary>A point-in-time view of one group on one node.</summary>
/// <param name="GroupId">The group.</param>
/// <param name="NodeId">This node.</param>
/// <param name="Role">This node's role.</param>
/// <param name="Term">The current term.</param>
/// <param name="Leader">The known leader (0 when none).</param>
/// <param name="LastIndex">The last log index.</param>
/// <param name="CommitIndex">The commit index.</param>
/// <param name="AppliedIndex">The last index applied to the state machine.</param>
/// <param name="Quiescent">True while the group is idle and not ticked (multi-raft quiescence).</param>
public sealed record RaftStatus(long GroupId, long NodeId, RaftRole Role, long Term, long Leader, long LastIndex,
    long CommitIndex, long AppliedIndex, bool Quiescent)
{
    /// <summary>True when this node leads the group.</summary>
    public bool IsLeader => Role == RaftRole.Leader;

    internal static RaftRole ToRole(RoleKind role) => role.Tag switch
    {
        RoleKind.Tags.LeaderRole => RaftRole.Leader,
        RoleKind.Tags.CandidateRole => RaftRole.Candidate,
        RoleKind.Tags.PreCandidateRole => RaftRole.PreCandidate,
        _ => RaftRole.Follower,
    };
}

/// <summary>Raised when a group's role, term or leader changes on this node.</summary>
public sealed class RoleChangedEventArgs(long groupId, RaftRole role, long term, long leader) : EventArgs
{
    public long GroupId { get; } = groupId;
    public RaftRole Role { get; } = role;
    public long Term { get; } = term;
    public long Leader { get; } = leader;

    public override string ToString() => $"group {GroupId}: {Role} in term {Term}, leader {Leader}";
}

/// <summary>The outcome of a committed, applied proposal.</summary>
/// <param name="Index">The log index the command was applied at.</param>
/// <param name="Term">The term it was written in.</param>
/// <param name="Result">What the state machine returned.</param>
public readonly record struct ProposeResult<TResult>(long Index, long Term, TResult Result);
