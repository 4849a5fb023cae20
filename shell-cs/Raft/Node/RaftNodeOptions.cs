using Raft.Core;

namespace Raft.Node;

/// <summary>Settings of one <see cref="RaftNodeHost{TCommand,TResult}"/>: the node's identity, its clock and loop, and
/// the core's settings, which every group of the node uses. The core's settings start at the core's defaults
/// (<see cref="RaftOptionsModule.defaults"/>) and are checked by the core's validation
/// (<see cref="RaftOptions.Problems"/>); every message names the property.</summary>
public class RaftNodeOptions
{
    /// <summary>The core's defaults, the one place they are written; the core settings below start from them.</summary>
    private static readonly RaftOptions CoreDefaults = RaftOptionsModule.defaults(0);

    /// <summary>This node's id (positive); the same id the transport authenticates.</summary>
    public long NodeId { get; set; }

    // ---- The node's clock and loop ----

    /// <summary>Length of one core tick; the core counts every timeout in ticks.</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>A follower sends proposals to the leader it knows and completes them with the leader's answer; off,
    /// they fail with <see cref="NotLeaderException"/> carrying the leader hint. On, proposals made while no leader is
    /// known wait for one (within their timeout), and the state machine's result type must be serializable with the
    /// node's MessagePack options (checked when the node is constructed).</summary>
    public bool ForwardProposals { get; set; } = true;

    /// <summary>Default timeout of <c>ProposeAsync</c> and <c>ReadAsync</c> when the caller gives none.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Capacity of the loop's bounded input queue; producers wait when it is full.</summary>
    public int InputQueueCapacity { get; set; } = 65536;

    /// <summary>Most inputs the loop takes per iteration before it proposes, sends and persists.</summary>
    public int MaxInputsPerIteration { get; set; } = 8192;

    /// <summary>Stop ticking groups that are idle and caught up (multi-raft quiescence); a node-level liveness ping
    /// wakes them when a peer falls silent.</summary>
    public bool Quiescence { get; set; } = true;

    /// <summary>Entries read back from the log on restart to seed the core's in-memory window.</summary>
    public int RestoreTailEntries { get; set; } = 1024;

    // ---- The core's settings (RaftOptions; the same names, the core's defaults) ----

    /// <summary>Election timeout in ticks; the randomized timeout is in [T, 2T).</summary>
    public int ElectionTicks { get; set; } = CoreDefaults.ElectionTicks;

    /// <summary>Heartbeat interval in ticks; less than <see cref="ElectionTicks"/>.</summary>
    public int HeartbeatTicks { get; set; } = CoreDefaults.HeartbeatTicks;

    /// <summary>Send every follower the new commit index as soon as it moves: followers then apply at once instead of
    /// with the next AppendEntries or heartbeat, for two more messages per commit and follower.</summary>
    public bool BroadcastCommit { get; set; } = CoreDefaults.BroadcastCommit;

    /// <summary>Ask for pre-votes before campaigning (thesis §9.6).</summary>
    public bool PreVote { get; set; } = CoreDefaults.PreVote;

    /// <summary>Leaders step down without a quorum; followers with a live leader ignore vote requests.</summary>
    public bool CheckQuorum { get; set; } = CoreDefaults.CheckQuorum;

    /// <summary>Byte budget of the entries of one AppendEntries.</summary>
    public long MaxSizePerMsg { get; set; } = CoreDefaults.MaxSizePerMsg;

    /// <summary>Unacknowledged AppendEntries per peer.</summary>
    public int MaxInflightMsgs { get; set; } = CoreDefaults.MaxInflightMsgs;

    /// <summary>Unacknowledged entry bytes per peer (0 = unlimited).</summary>
    public long MaxInflightBytes { get; set; } = CoreDefaults.MaxInflightBytes;

    /// <summary>Bytes of uncommitted entries a leader accepts before dropping proposals (0 = unlimited).</summary>
    public long MaxUncommittedBytes { get; set; } = CoreDefaults.MaxUncommittedBytes;

    /// <summary>Entry payloads the core keeps in memory per group; older ones are read from the log.</summary>
    public int MaxWindowEntries { get; set; } = CoreDefaults.MaxWindowEntries;

    /// <summary>How reads are confirmed: a heartbeat round, or the leader lease (needs <see cref="CheckQuorum"/>).</summary>
    public RaftReadMode ReadMode { get; set; } = RaftReadModes.Of(CoreDefaults.ReadMode);

    /// <summary>Lease reads: the lease ends this many ticks before the election timeout (one tick for the phase
    /// between two nodes' clocks, the rest a margin for clock drift); less than <see cref="ElectionTicks"/>.</summary>
    public int LeaseDriftTicks { get; set; } = CoreDefaults.LeaseDriftTicks;

    /// <summary>Take a state-machine snapshot once this many entries were applied since the last one (0 = never by count).</summary>
    public long SnapshotEntries { get; set; } = CoreDefaults.SnapshotEntries;

    /// <summary>Take a snapshot once the retained log holds this many bytes (0 = never by size).</summary>
    public long SnapshotLogBytes { get; set; } = CoreDefaults.SnapshotLogBytes;

    /// <summary>Entries kept in the log behind a snapshot, so slightly lagging followers catch up from the log rather
    /// than by InstallSnapshot (0 compacts everything the snapshot covers).</summary>
    public long CompactionTrailing { get; set; } = CoreDefaults.CompactionTrailing;

    /// <summary>A learner within this many entries of the leader's last index counts as caught up.</summary>
    public long LearnerCatchUpLag { get; set; } = CoreDefaults.LearnerCatchUpLag;

    /// <summary>Promote caught-up learners that were added to become voters automatically.</summary>
    public bool AutoPromoteLearners { get; set; } = CoreDefaults.AutoPromoteLearners;

    /// <summary>Bytes of snapshot data per InstallSnapshot chunk.</summary>
    public int SnapshotChunkBytes { get; set; } = CoreDefaults.SnapshotChunkBytes;

    /// <summary>How many groups (the lowest ids) get gauges of their own, tagged <c>raft.group</c>
    /// (<c>raft.group.index</c> by kind, <c>raft.group.term</c>, <c>raft.group.leader</c>); 0, the default, for none.
    /// Opt-in and capped at <see cref="MaxGroupMetrics"/>: a series per group times thousands of groups overwhelms a
    /// time-series database, so by default group figures are aggregated per node.</summary>
    public int GroupMetrics { get; set; }

    /// <summary>The most groups <see cref="GroupMetrics"/> may tag.</summary>
    public const int MaxGroupMetrics = 1000;

    /// <summary>Every problem found, each naming the property; empty when valid.</summary>
    public virtual IReadOnlyList<string> Validate() => Problems(static property => property);

    /// <summary>Every problem found, each naming its setting through <paramref name="name"/> (given a property's
    /// name, the name to show: the property itself, or a configuration key). The core's rules are the core's own.</summary>
    private protected List<string> Problems(Func<string, string> name)
    {
        var errors = new List<string>();
        var readMode = ReadMode;
        if (!Enum.IsDefined(readMode))
        {
            errors.Add($"{name(nameof(ReadMode))} must be {string.Join(" or ", Enum.GetNames<RaftReadMode>())} (got {readMode})");
            readMode = RaftReadModes.Of(CoreDefaults.ReadMode);
        }
        errors.AddRange(Core(0, readMode).Problems(field => name(field == nameof(RaftOptions.Id) ? nameof(NodeId) : field)));
        if (TickInterval < TimeSpan.FromMilliseconds(1)) errors.Add($"{name(nameof(TickInterval))} must be at least 1 ms (got {TickInterval})");
        if (RequestTimeout <= TimeSpan.Zero) errors.Add($"{name(nameof(RequestTimeout))} must be positive (got {RequestTimeout})");
        if (InputQueueCapacity < 16) errors.Add($"{name(nameof(InputQueueCapacity))} must be at least 16 (got {InputQueueCapacity})");
        if (MaxInputsPerIteration < 1) errors.Add($"{name(nameof(MaxInputsPerIteration))} must be at least 1 (got {MaxInputsPerIteration})");
        if (GroupMetrics is < 0 or > MaxGroupMetrics) errors.Add($"{name(nameof(GroupMetrics))} must be within 0-{MaxGroupMetrics} (got {GroupMetrics})");
        if (RestoreTailEntries < 0) errors.Add($"{name(nameof(RestoreTailEntries))} must not be negative (got {RestoreTailEntries})");
        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid Raft node options: " + string.Join("; ", errors));
    }

    /// <summary>The core's options for one group (the seed mixes in the group id so groups do not time out in lockstep).</summary>
    public RaftOptions CoreOptions(long groupId) => Core(groupId, ReadMode);

    private RaftOptions Core(long groupId, RaftReadMode readMode) => new(
        NodeId, ElectionTicks, HeartbeatTicks, BroadcastCommit, PreVote, CheckQuorum, MaxSizePerMsg, MaxInflightMsgs, MaxInflightBytes,
        MaxUncommittedBytes, MaxWindowEntries, RaftReadModes.ToCore(readMode), LeaseDriftTicks, SnapshotEntries, SnapshotLogBytes,
        CompactionTrailing, LearnerCatchUpLag, AutoPromoteLearners, SnapshotChunkBytes,
        unchecked((ulong)NodeId * 0x9E3779B97F4A7C15UL ^ (ulong)groupId * 0xC2B2AE3D27D4EB4FUL));
}

/// <summary>How linearizable reads are confirmed: the core's <see cref="Core.ReadMode"/> cases, as an enum that
/// configuration binds by name.</summary>
public enum RaftReadMode
{
    /// <summary>ReadIndex confirmed by a heartbeat round (always safe).</summary>
    ReadIndexQuorum,

    /// <summary>Served under the leader lease without a round trip; needs CheckQuorum and bounded clock drift.</summary>
    LeaseBased,
}

/// <summary>Conversions between <see cref="RaftReadMode"/> and the core's <see cref="Core.ReadMode"/>.</summary>
internal static class RaftReadModes
{
    public static RaftReadMode Of(Core.ReadMode mode) => mode.IsLeaseBased ? RaftReadMode.LeaseBased : RaftReadMode.ReadIndexQuorum;

    public static Core.ReadMode ToCore(RaftReadMode mode) => mode switch
    {
        RaftReadMode.ReadIndexQuorum => Core.ReadMode.ReadIndexQuorum,
        RaftReadMode.LeaseBased => Core.ReadMode.LeaseBased,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "not a read mode"),
    };
}
