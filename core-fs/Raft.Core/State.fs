namespace Raft.Core

/// Deliberate protocol bugs, for proving that the simulator and the tests catch them. Never set in production.
type PlantedBug =
    /// Commit by counting replicas of an entry from an earlier term (violates §5.4.2).
    | CommitOldTermByCounting
    /// Grant votes without checking that the candidate's log is up to date (violates §5.4.1).
    | VoteWithoutLogCheck
    /// Serve ReadIndex reads without confirming leadership with a heartbeat round (stale reads).
    | ReadWithoutQuorumCheck
    /// Accept configuration changes that add or remove several voters in one step (disjoint majorities).
    | UnsafeMultiVoterChange
    /// Write every snapshot chunk received, without checking its offset (duplicates applied twice).
    | AcceptSnapshotChunkAtAnyOffset

/// Who asked for a read the leader is confirming.
type ReadOrigin =
    /// A ReadIndex input on the leader itself, with the host's tag.
    | LocalRead of tag: int64
    /// A read forwarded by a follower, with the follower's context.
    | RemoteRead of node: NodeId * context: int64

/// A read the leader registered and is confirming with a heartbeat round (thesis §6.4).
type PendingRead =
    {
        Origin: ReadOrigin
        /// Unique, increasing; a heartbeat answer for context c confirms every read with context <= c.
        Context: int64
        /// The commit index when the read registered: it may be served once applied >= this.
        Index: Index
        /// Voters that acknowledged a heartbeat sent after the read registered (the leader included).
        Acks: Set<NodeId>
    }

/// A leadership transfer in progress (thesis §3.10).
type TransferState =
    {
        Target: NodeId
        /// Ticks since the transfer started; aborted after an election timeout.
        Elapsed: int
    }

/// A snapshot being received by a follower.
type IncomingSnapshot =
    {
        TransferId: int64
        Meta: SnapshotMeta
        /// Bytes durably written so far; the next chunk must start here.
        NextOffset: int64
    }

/// State only a leader has.
type LeaderState =
    {
        /// Every other member's replication progress.
        Progress: Map<NodeId, Progress>
        /// Bytes of entries appended in this term and not yet committed.
        UncommittedBytes: int64
        /// Index of the newest configuration entry this leader may not yet see committed.
        PendingConfIndex: Index
        /// Ticks since the last heartbeat broadcast.
        HeartbeatElapsed: int
        /// Reads waiting for this leader's first commit in its term (§6.4: its commit index may be stale).
        HeldReads: ReadOrigin list
        /// Reads being confirmed, oldest first.
        Reads: PendingRead list
        /// A leadership transfer in progress.
        Transfer: TransferState voption
        /// Nodes added as learners to be promoted to voters once caught up (thesis §4.2.1).
        Promotions: Set<NodeId>
        /// Ticks this node has been leader (the lease clock).
        Ticks: int64
        /// Heartbeat contexts sent recently, with the tick they were sent at, newest first.
        SentContexts: struct (int64 * int64) list
        /// Per voter: the send tick of the newest heartbeat it acknowledged (the lease evidence).
        AckedAt: Map<NodeId, int64>
    }

/// A node's role, carrying the data only that role has (leader-only state cannot exist on a follower).
type Role =
    | Follower
    /// Collecting pre-votes for Term+1 without having changed its term.
    | PreCandidate of votes: Map<NodeId, bool>
    | Candidate of votes: Map<NodeId, bool>
    | Leader of LeaderState

/// The complete state of one node of one Raft group. Immutable; `Node.step` returns the next one.
type State<'T> =
    {
        Options: RaftOptions
        Term: Term
        /// Vote cast in Term (0 when none).
        Vote: NodeId
        /// Known leader of Term (0 when none).
        Leader: NodeId
        Role: Role
        Log: RaftLog<'T>
        /// Configuration in effect and its history.
        Config: ConfigState
        /// The hard state last handed to the host in a Persist effect.
        PersistedHardState: HardState
        Prng: Prng
        /// Ticks since the last election-timer reset (followers, candidates) or CheckQuorum round (leaders).
        ElectionElapsed: int
        /// This term's randomized election timeout, in [ElectionTicks, 2 * ElectionTicks).
        RandomizedTimeout: int
        /// Entries committed that the host must load before they can be applied.
        ApplyLoading: bool
        /// Source of read contexts and snapshot transfer ids (unique within a node's lifetime in a term).
        Sequence: int64
        /// Reads confirmed at an index, waiting until it is applied: (tag, index).
        ReadsAwaitingApply: struct (int64 * Index) list
        /// Reads forwarded to the leader: context -> tag.
        ForwardedReads: Map<int64, int64>
        /// The newest snapshot the host holds (taken locally or installed).
        LatestSnapshot: SnapshotMeta voption
        /// A SaveSnapshot is outstanding.
        SnapshotPending: bool
        /// A snapshot being received from the leader.
        Incoming: IncomingSnapshot voption
        /// Bugs planted on purpose by tests (empty in production).
        PlantedBugs: Set<PlantedBug>
    }
