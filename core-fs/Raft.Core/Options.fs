namespace Raft.Core

/// How linearizable reads are confirmed.
type ReadMode =
    /// ReadIndex confirmed by a heartbeat round (always safe).
    | ReadIndexQuorum
    /// Served under the leader lease without a round trip; needs CheckQuorum and bounded clock drift.
    | LeaseBased

/// Tuning and behaviour of one node of one group. Times are in ticks.
type RaftOptions =
    {
        /// This node's id (non-zero).
        Id: NodeId
        /// Base election timeout T; the randomized timeout is drawn from [T, 2T).
        ElectionTicks: int
        /// Heartbeat interval; must be smaller than ElectionTicks.
        HeartbeatTicks: int
        /// Send an empty AppendEntries to every follower as soon as the commit index advances (etcd's behaviour).
        /// Off (the default), followers learn a new commit index with the next AppendEntries or heartbeat, at most
        /// HeartbeatTicks later when the group is idle: one proposal at a time then costs two messages and two
        /// answers fewer per commit in a 3-node group. Only when followers apply (not when clients see a commit) changes.
        BroadcastCommit: bool
        /// Ask for pre-votes before campaigning (thesis §9.6).
        PreVote: bool
        /// Leaders step down without a quorum; followers with a live leader ignore vote requests.
        CheckQuorum: bool
        /// Byte budget of entries in one AppendEntries.
        MaxSizePerMsg: int64
        /// Unacknowledged AppendEntries per peer in Replicate state.
        MaxInflightMsgs: int
        /// Unacknowledged entry bytes per peer (0 = unlimited).
        MaxInflightBytes: int64
        /// Bytes the leader accepts in uncommitted entries before dropping proposals (0 = unlimited).
        MaxUncommittedBytes: int64
        /// Entry payloads kept in memory; older ones are loaded from the host's log when needed.
        MaxWindowEntries: int
        /// Read confirmation mode.
        ReadMode: ReadMode
        /// Lease reads: the lease ends this many ticks before the election timeout. One tick covers the phase
        /// between two nodes' tick clocks (a follower's first tick after a heartbeat may come at once); the other
        /// LeaseDriftTicks - 1 ticks are the clock-drift margin: the leader's clock may run slower than a
        /// follower's by a factor of up to (ElectionTicks - 1) / (ElectionTicks - LeaseDriftTicks), 12.5% with
        /// the defaults. At 1 the lease relies on the election's own round trips to absorb any drift.
        LeaseDriftTicks: int
        /// Ask for a snapshot after this many applied entries since the last one (0 = never).
        SnapshotEntries: int64
        /// Ask for a snapshot when the retained log exceeds this many bytes (0 = never).
        SnapshotLogBytes: int64
        /// Entries kept behind a snapshot for slow followers.
        CompactionTrailing: int64
        /// A learner within this many entries of the leader's last index counts as caught up.
        LearnerCatchUpLag: int64
        /// Promote caught-up learners listed in `PromoteLearners` automatically.
        AutoPromoteLearners: bool
        /// Snapshot chunk size in bytes.
        SnapshotChunkBytes: int
        /// Seed of the node's PRNG (election timeouts).
        Seed: uint64
    }

/// Defaults and validation for <see cref="RaftOptions"/>.
module RaftOptions =
    /// Sensible defaults for the given node: 10-tick elections, 1-tick heartbeats, PreVote and CheckQuorum on.
    let defaults (id: NodeId) =
        {
            Id = id
            ElectionTicks = 10
            HeartbeatTicks = 1
            BroadcastCommit = false
            PreVote = true
            CheckQuorum = true
            MaxSizePerMsg = 1L <<< 20
            MaxInflightMsgs = 256
            MaxInflightBytes = 0L
            MaxUncommittedBytes = 64L <<< 20
            MaxWindowEntries = 65536
            ReadMode = ReadIndexQuorum
            LeaseDriftTicks = 2
            SnapshotEntries = 0L
            SnapshotLogBytes = 0L
            CompactionTrailing = 1000L
            LearnerCatchUpLag = 100L
            AutoPromoteLearners = true
            SnapshotChunkBytes = 1 <<< 20
            Seed = uint64 id
        }

    /// Checks every field; the error names the first bad one.
    let validate (o: RaftOptions) : Result<RaftOptions, string> =
        let checks =
            [
                o.Id > 0L<node>, "Id must be a positive node id"
                o.ElectionTicks >= 2, "ElectionTicks must be at least 2"
                o.HeartbeatTicks >= 1, "HeartbeatTicks must be at least 1"
                o.HeartbeatTicks < o.ElectionTicks, "HeartbeatTicks must be smaller than ElectionTicks"
                o.MaxSizePerMsg >= 1L, "MaxSizePerMsg must be positive"
                o.MaxInflightMsgs >= 1, "MaxInflightMsgs must be at least 1"
                o.MaxInflightBytes >= 0L, "MaxInflightBytes must not be negative"
                o.MaxUncommittedBytes >= 0L, "MaxUncommittedBytes must not be negative"
                o.MaxWindowEntries >= 1, "MaxWindowEntries must be at least 1"
                o.LeaseDriftTicks >= 0 && o.LeaseDriftTicks < o.ElectionTicks,
                "LeaseDriftTicks must be in [0, ElectionTicks)"
                o.ReadMode <> LeaseBased || o.CheckQuorum, "ReadMode LeaseBased requires CheckQuorum"
                o.SnapshotEntries >= 0L, "SnapshotEntries must not be negative"
                o.SnapshotLogBytes >= 0L, "SnapshotLogBytes must not be negative"
                o.CompactionTrailing >= 0L, "CompactionTrailing must not be negative"
                o.LearnerCatchUpLag >= 0L, "LearnerCatchUpLag must not be negative"
                o.SnapshotChunkBytes >= 1, "SnapshotChunkBytes must be positive"
            ]
        match checks |> List.tryFind (fst >> not) with
        | Some(_, message) -> Error message
        | None -> Ok o
