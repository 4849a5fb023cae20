using Raft.Core;

namespace Raft.Node;

/// <summary>Settings of one <see cref="RaftNodeHost{TCommand,TResult}"/>: the node's identity, its clock and the
/// per-group core settings (every group of the node uses the same ones).</summary>
public sealed class RaftNodeOptions
{
    /// <summary>This node's id (non-zero); the same id the transport authenticates.</summary>
    public long NodeId { get; set; }

    /// <summary>Length of one core tick (20 ms).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Election timeout in ticks; the randomized timeout is in [T, 2T) (10).</summary>
    public int ElectionTicks { get; set; } = 10;

    /// <summary>Heartbeat interval in ticks (2).</summary>
    public int HeartbeatTicks { get; set; } = 2;

    /// <summary>Send every follower the new commit index as soon as it moves (off): followers then apply at once
    /// instead of with the next AppendEntries or heartbeat, for two more messages per commit and follower.</summary>
    public bool BroadcastCommit { get; set; }

    /// <summary>A follower sends proposals to the leader it knows and completes them with the leader's answer (on);
    /// off, they fail with <see cref="NotLeaderException"/> carrying the leader hint. On, proposals made while no
    /// leader is known wait for one (within their timeout), and the state machine's result type must be serializable
    /// with the node's MessagePack options (checked when the node is constructed).</summary>
    public bool ForwardProposals { get; set; } = true;

    /// <summary>Ask for pre-votes before campaigning (on).</summary>
    public bool PreVote { get; set; } = true;

    /// <summary>Leaders step down without a quorum; followers with a live leader ignore vote requests (on).</summary>
    public bool CheckQuorum { get; set; } = true;

    /// <summary>Byte budget of one AppendEntries (1 MiB).</summary>
    public long MaxSizePerMsg { get; set; } = 1L << 20;

    /// <summary>Unacknowledged AppendEntries per peer (256).</summary>
    public int MaxInflightMsgs { get; set; } = 256;

    /// <summary>Bytes of uncommitted entries a leader accepts before dropping proposals (64 MiB; 0 = unlimited).</summary>
    public long MaxUncommittedBytes { get; set; } = 64L << 20;

    /// <summary>Entry payloads the core keeps in memory per group (8192); older ones are read from the log.</summary>
    public int MaxWindowEntries { get; set; } = 8192;

    /// <summary>Default timeout of <c>ProposeAsync</c> and <c>ReadAsync</c> when the caller gives none (10 s).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Capacity of the loop's bounded input queue (65536); producers wait when it is full.</summary>
    public int InputQueueCapacity { get; set; } = 65536;

    /// <summary>Most inputs the loop takes per iteration before it proposes, sends and persists (8192).</summary>
    public int MaxInputsPerIteration { get; set; } = 8192;

    /// <summary>Stop ticking groups that are idle and caught up (multi-raft quiescence); a node-level liveness ping
    /// wakes them when a peer falls silent (on).</summary>
    public bool Quiescence { get; set; } = true;

    /// <summary>Entries read back from the log on restart to seed the core's in-memory window (1024).</summary>
    public int RestoreTailEntries { get; set; } = 1024;

    /// <summary>Take a state-machine snapshot once this many entries were applied since the last one (0 = never by count).</summary>
    public long SnapshotEntries { get; set; }

    /// <summary>Take a snapshot once the retained log holds this many bytes (0 = never by size).</summary>
    public long SnapshotLogBytes { get; set; }

    /// <summary>Entries kept in the log behind a snapshot, so slightly lagging followers catch up from the log
    /// rather than by InstallSnapshot (1000; 0 compacts everything the snapshot covers).</summary>
    public long CompactionTrailing { get; set; } = 1000;

    /// <summary>Bytes of snapshot data per InstallSnapshot chunk (1 MiB).</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>Every problem found, each naming the offending key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (NodeId <= 0) errors.Add($"{nameof(NodeId)} must be a positive node id (was {NodeId}).");
        if (TickInterval < TimeSpan.FromMilliseconds(1)) errors.Add($"{nameof(TickInterval)} must be at least 1 ms (was {TickInterval}).");
        if (RequestTimeout <= TimeSpan.Zero) errors.Add($"{nameof(RequestTimeout)} must be positive (was {RequestTimeout}).");
        if (InputQueueCapacity < 16) errors.Add($"{nameof(InputQueueCapacity)} must be at least 16 (was {InputQueueCapacity}).");
        if (MaxInputsPerIteration < 1) errors.Add($"{nameof(MaxInputsPerIteration)} must be at least 1 (was {MaxInputsPerIteration}).");
        if (RestoreTailEntries < 0) errors.Add($"{nameof(RestoreTailEntries)} must not be negative (was {RestoreTailEntries}).");
        if (SnapshotEntries < 0) errors.Add($"{nameof(SnapshotEntries)} must not be negative (was {SnapshotEntries}; 0 turns count-based snapshots off).");
        if (SnapshotLogBytes < 0) errors.Add($"{nameof(SnapshotLogBytes)} must not be negative (was {SnapshotLogBytes}; 0 turns size-based snapshots off).");
        if (CompactionTrailing < 0) errors.Add($"{nameof(CompactionTrailing)} must not be negative (was {CompactionTrailing}).");
        if (SnapshotChunkBytes < 1) errors.Add($"{nameof(SnapshotChunkBytes)} must be positive (was {SnapshotChunkBytes}).");
        if (errors.Count == 0 && NodeId > 0 && RaftOptionsModule.validate(CoreOptions(0)) is { IsError: true } bad)
            errors.Add(bad.ErrorValue);
        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid Raft node options: " + string.Join(" ", errors));
    }

    /// <summary>The core's options for one group (the seed mixes in the group id so groups do not time out in lockstep).</summary>
    public RaftOptions CoreOptions(long groupId)
    {
        var d = RaftOptionsModule.defaults(NodeId);
        return new RaftOptions(
            NodeId, ElectionTicks, HeartbeatTicks, BroadcastCommit, PreVote, CheckQuorum, MaxSizePerMsg, MaxInflightMsgs, d.MaxInflightBytes,
            MaxUncommittedBytes, MaxWindowEntries, d.ReadMode, d.LeaseDriftTicks, SnapshotEntries, SnapshotLogBytes,
            CompactionTrailing, d.LearnerCatchUpLag, d.AutoPromoteLearners, SnapshotChunkBytes,
            unchecked((ulong)NodeId * 0x9E3779B97F4A7C15UL ^ (ulong)groupId * 0xC2B2AE3D27D4EB4FUL));
    }
}
