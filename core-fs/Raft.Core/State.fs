namespace Raft.Core

/// Deliberate protocol bugs, for proving that the simulator and the tests catch them. Never set in production.
type PlantedBug =
    /// Commit by counting replicas of an entry from an earlier term (violates §5.4.2).
    | CommitOldTermByCounting
    /// Grant votes without checking that the candidate's log is up to date (violates §5.4.1).
    | VoteWithoutLogCheck

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
        /// Bugs planted on purpose by tests (empty in production).
        PlantedBugs: Set<PlantedBug>
    }
