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

/// Replication progress of every other member, sorted by id (the order the leader sends in).
/// An update copies one small array instead of rebuilding a map: a leader has few peers.
[<Struct; CustomEquality; NoComparison>]
type Peers =
    {
        /// Member ids, ascending.
        Ids: NodeId[]
        /// Progress of Ids[i] at slot i.
        Items: Progress[]
    }

    override this.Equals(other) =
        match other with
        | :? Peers as o -> this.Ids = o.Ids && this.Items = o.Items
        | _ -> false

    override this.GetHashCode() = hash this.Ids

/// Operations on <see cref="Peers"/>; every operation returns a new value.
module Peers =
    /// No peers.
    let empty = { Ids = [||]; Items = [||] }

    /// Peers from (id, progress) pairs in any order.
    let ofSeq (pairs: (NodeId * Progress) seq) =
        let sorted = pairs |> Seq.sortBy fst |> Array.ofSeq
        { Ids = Array.map fst sorted; Items = Array.map snd sorted }

    /// The slot of `id`, or -1.
    let slot (id: NodeId) (peers: Peers) =
        let ids = peers.Ids
        let mutable i = 0

        while i < ids.Length && ids[i] <> id do
            i <- i + 1

        if i < ids.Length then i else -1

    /// The progress of `id`, when it is a peer.
    let tryFind (id: NodeId) (peers: Peers) : Progress voption =
        let i = slot id peers
        if i < 0 then ValueNone else ValueSome peers.Items[i]

    /// True when `id` is a peer.
    let contains (id: NodeId) (peers: Peers) = slot id peers >= 0

    /// A copy of the progress array. Allocating and copying the few slots directly costs a fraction of
    /// `Array.copy`, which clones through the runtime's general object copy.
    let copyItems (peers: Peers) =
        let source = peers.Items
        let items = Array.zeroCreate source.Length

        for i in 0 .. source.Length - 1 do
            items[i] <- source[i]

        items

    /// Replaces the progress of `id`, which must be a peer.
    let set (id: NodeId) (p: Progress) (peers: Peers) =
        let i = slot id peers
        if i < 0 then invalidOp $"peers: {id} is not a peer"
        let items = copyItems peers
        items[i] <- p
        { Ids = peers.Ids; Items = items }

    /// Every progress transformed.
    let map (f: Progress -> Progress) (peers: Peers) = { Ids = peers.Ids; Items = Array.map f peers.Items }

    /// The peers as a map (for inspection; the core never builds one on its hot paths).
    let toMap (peers: Peers) = Array.fold2 (fun (m: Map<NodeId, Progress>) id p -> m.Add(id, p)) Map.empty peers.Ids peers.Items

/// The voters of one configuration as arrays, so the leader counts acknowledgements without walking sets.
type VoterIds =
    {
        /// The configuration these ids were taken from (compared by reference before use).
        Of: Membership
        Voters: NodeId[]
        Outgoing: NodeId[]
    }

/// Operations on <see cref="VoterIds"/>.
module VoterIds =
    /// The voter ids of `m`.
    let ofMembership (m: Membership) = { Of = m; Voters = Set.toArray m.Voters; Outgoing = Set.toArray m.Outgoing }

/// Leader state that changes rarely (reads, transfers, configuration changes, ticks), kept apart so the
/// per-entry updates of <see cref="LeaderState"/> copy a small record.
type LeaderSlow =
    {
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
        /// Voter ids of the configuration, for counting acknowledgements.
        Quorum: VoterIds
    }

/// State only a leader has. The fields updated for every entry are here; the rest is in `Slow`.
/// A struct held inline in the `Leader` case, so a per-entry update allocates one object instead of two.
[<Struct>]
type LeaderState =
    {
        /// Every other member's replication progress.
        Peers: Peers
        /// Bytes of entries appended in this term and not yet committed.
        UncommittedBytes: int64
        Slow: LeaderSlow
    }

    /// Every other member's replication progress, as a map.
    member l.Progress = Peers.toMap l.Peers
    /// Index of the newest configuration entry this leader may not yet see committed.
    member l.PendingConfIndex = l.Slow.PendingConfIndex
    /// Ticks since the last heartbeat broadcast.
    member l.HeartbeatElapsed = l.Slow.HeartbeatElapsed
    /// Reads waiting for this leader's first commit in its term.
    member l.HeldReads = l.Slow.HeldReads
    /// Reads being confirmed, oldest first.
    member l.Reads = l.Slow.Reads
    /// A leadership transfer in progress.
    member l.Transfer = l.Slow.Transfer
    /// Nodes added as learners to be promoted to voters once caught up.
    member l.Promotions = l.Slow.Promotions
    /// Ticks this node has been leader (the lease clock).
    member l.Ticks = l.Slow.Ticks
    /// Heartbeat contexts sent recently, with the tick they were sent at, newest first.
    member l.SentContexts = l.Slow.SentContexts
    /// Per voter: the send tick of the newest heartbeat it acknowledged.
    member l.AckedAt = l.Slow.AckedAt

/// A node's role, carrying the data only that role has (leader-only state cannot exist on a follower).
type Role =
    | Follower
    /// Collecting pre-votes for Term+1 without having changed its term.
    | PreCandidate of votes: Map<NodeId, bool>
    | Candidate of votes: Map<NodeId, bool>
    | Leader of LeaderState

/// The parts of a node's state that change rarely (elections, reads, snapshots, configuration changes), kept
/// apart so a step that only moves the log copies a small <see cref="State{T}"/>.
type NodeSlow =
    {
        Options: RaftOptions
        Term: Term
        /// Vote cast in Term (0 when none).
        Vote: NodeId
        /// Configuration in effect and its history.
        Config: ConfigState
        /// The hard state last handed to the host in a Persist effect.
        PersistedHardState: HardState
        Prng: Prng
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

/// The complete state of one node of one Raft group. Immutable; `Node.step` returns the next one.
/// The fields that change for every entry are here; the rest is in `Slow` and read through the members.
type State<'T> =
    {
        Log: RaftLog<'T>
        Role: Role
        /// Known leader of Term (0 when none).
        Leader: NodeId
        /// Ticks since the last election-timer reset (followers, candidates) or CheckQuorum round (leaders).
        ElectionElapsed: int
        Slow: NodeSlow
    }

    /// This node's options.
    member s.Options = s.Slow.Options
    /// Current term.
    member s.Term = s.Slow.Term
    /// Vote cast in Term (0 when none).
    member s.Vote = s.Slow.Vote
    /// Configuration in effect and its history.
    member s.Config = s.Slow.Config
    /// The hard state last handed to the host in a Persist effect.
    member s.PersistedHardState = s.Slow.PersistedHardState
    /// The election-timeout PRNG.
    member s.Prng = s.Slow.Prng
    /// This term's randomized election timeout, in [ElectionTicks, 2 * ElectionTicks).
    member s.RandomizedTimeout = s.Slow.RandomizedTimeout
    /// Entries committed that the host must load before they can be applied.
    member s.ApplyLoading = s.Slow.ApplyLoading
    /// Source of read contexts and snapshot transfer ids.
    member s.Sequence = s.Slow.Sequence
    /// Reads confirmed at an index, waiting until it is applied: (tag, index).
    member s.ReadsAwaitingApply = s.Slow.ReadsAwaitingApply
    /// Reads forwarded to the leader: context -> tag.
    member s.ForwardedReads = s.Slow.ForwardedReads
    /// The newest snapshot the host holds.
    member s.LatestSnapshot = s.Slow.LatestSnapshot
    /// A SaveSnapshot is outstanding.
    member s.SnapshotPending = s.Slow.SnapshotPending
    /// A snapshot being received from the leader.
    member s.Incoming = s.Slow.Incoming
    /// Bugs planted on purpose by tests.
    member s.PlantedBugs = s.Slow.PlantedBugs
