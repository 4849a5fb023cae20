using Raft.Transport;

namespace Raft.Node;

/// <summary>
/// A point-in-time document of one node: every group with its log positions, its leader and (on a leader) each
/// replica's progress, and the transport's counters. Plain records, so <c>System.Text.Json</c> serialises it as is
/// (what <c>/raft/status</c> serves). Built from what the loop last published: groups are read one at a time, so
/// two groups may be a step apart.
/// </summary>
/// <param name="NodeId">This node.</param>
/// <param name="Running">The node is started and its loop runs (false before start, after stop, or when the loop died).</param>
/// <param name="StorageFailure">Why the node's shared log stopped every group on it, or null.</param>
/// <param name="Groups">Every group on the node, by id.</param>
/// <param name="Transport">The transport's counters since start.</param>
/// <param name="Paused">Held by <see cref="RaftNodeHost{TCommand,TResult}.Pause"/> (chaos testing): not stepping until resumed.</param>
public sealed record NodeStatus(long NodeId, bool Running, string? StorageFailure, IReadOnlyList<GroupStatus> Groups, TransportStats Transport,
    bool Paused = false);

/// <summary>One group on one node.</summary>
/// <param name="GroupId">The group.</param>
/// <param name="Role">This node's role.</param>
/// <param name="Term">The current term.</param>
/// <param name="Leader">The known leader (0 when none).</param>
/// <param name="LeaderlessSince">When this node last lost (or never had) a known leader; null while one is known.</param>
/// <param name="FirstIndex">The first index still in the log (after the snapshot).</param>
/// <param name="LastIndex">The last log index.</param>
/// <param name="CommitIndex">The commit index.</param>
/// <param name="AppliedIndex">The last index applied to the state machine.</param>
/// <param name="SnapshotIndex">The index of the newest snapshot held (0 when none).</param>
/// <param name="Quiescent">Idle and not ticked (multi-raft quiescence).</param>
/// <param name="Fault">Why the group stopped (storage failure, ...), or null.</param>
/// <param name="Replicas">On the leader, every other member's progress; empty on other roles.</param>
public sealed record GroupStatus(long GroupId, RaftRole Role, long Term, long Leader, DateTimeOffset? LeaderlessSince,
    long FirstIndex, long LastIndex, long CommitIndex, long AppliedIndex, long SnapshotIndex, bool Quiescent, string? Fault,
    IReadOnlyList<ReplicaStatus> Replicas);

/// <summary>A leader's view of one other member of a group.</summary>
/// <param name="NodeId">The member.</param>
/// <param name="Match">The highest index known replicated on it.</param>
/// <param name="Next">The next index the leader sends it.</param>
/// <param name="Inflight">AppendEntries sent to it and not yet acknowledged.</param>
/// <param name="Lag">The leader's last index minus <paramref name="Match"/>.</param>
/// <param name="Mode"><c>Probe</c> (finding its match), <c>Replicate</c> (pipelining) or <c>Snapshot</c> (receiving one).</param>
/// <param name="RecentActive">Heard from since the leader's last CheckQuorum round.</param>
/// <param name="Paused">Flow control holds replication to it (in-flight window full, a probe outstanding, a snapshot
/// in transfer).</param>
public sealed record ReplicaStatus(long NodeId, long Match, long Next, int Inflight, long Lag, string Mode, bool RecentActive, bool Paused = false);
