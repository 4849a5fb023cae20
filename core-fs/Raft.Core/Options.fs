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

/// Defaults and validation for <see cref="RaftOptions"/>: the one place either is written. The C# host's
/// options read their defaults from `defaults` and validate through `problemsNamed`.
module RaftOptions =
    /// Defaults for the given node: 10-tick elections, 2-tick heartbeats, PreVote and CheckQuorum on, an 8,192-entry
    /// payload window.
    let defaults (id: NodeId) =
        {
            Id = id
            ElectionTicks = 10
            HeartbeatTicks = 2
            BroadcastCommit = false
            PreVote = true
            CheckQuorum = true
            MaxSizePerMsg = 1L <<< 20
            MaxInflightMsgs = 256
            MaxInflightBytes = 0L
            MaxUncommittedBytes = 64L <<< 20
            MaxWindowEntries = 8192
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

    /// Every rule `o` breaks, in field order, each message with the values it got. `name` says what the caller
    /// calls a field (a property, a configuration key such as `Raft:ElectionTicks`): given the field's name, it
    /// returns the name the message shows.
    let problemsNamed (name: string -> string) (o: RaftOptions) : string list =
        let election = name (nameof o.ElectionTicks)

        [
            if o.Id <= 0L<node> then $"{name (nameof o.Id)} must be a positive node id (got {o.Id})"
            if o.ElectionTicks < 2 then $"{election} must be at least 2 (got {o.ElectionTicks})"
            if o.HeartbeatTicks < 1 then $"{name (nameof o.HeartbeatTicks)} must be at least 1 (got {o.HeartbeatTicks})"
            elif o.HeartbeatTicks >= o.ElectionTicks then
                $"{name (nameof o.HeartbeatTicks)} must be less than {election} (got {o.HeartbeatTicks} and {o.ElectionTicks})"
            if o.MaxSizePerMsg < 1L then $"{name (nameof o.MaxSizePerMsg)} must be positive (got {o.MaxSizePerMsg})"
            if o.MaxInflightMsgs < 1 then $"{name (nameof o.MaxInflightMsgs)} must be at least 1 (got {o.MaxInflightMsgs})"
            if o.MaxInflightBytes < 0L then
                $"{name (nameof o.MaxInflightBytes)} must not be negative (got {o.MaxInflightBytes}; 0 means unlimited)"
            if o.MaxUncommittedBytes < 0L then
                $"{name (nameof o.MaxUncommittedBytes)} must not be negative (got {o.MaxUncommittedBytes}; 0 means unlimited)"
            if o.MaxWindowEntries < 1 then $"{name (nameof o.MaxWindowEntries)} must be at least 1 (got {o.MaxWindowEntries})"
            if o.LeaseDriftTicks < 0 then $"{name (nameof o.LeaseDriftTicks)} must not be negative (got {o.LeaseDriftTicks})"
            elif o.LeaseDriftTicks >= o.ElectionTicks then
                $"{name (nameof o.LeaseDriftTicks)} must be less than {election} (got {o.LeaseDriftTicks} and {o.ElectionTicks})"
            if o.ReadMode = LeaseBased && not o.CheckQuorum then
                $"{name (nameof o.ReadMode)} LeaseBased requires {name (nameof o.CheckQuorum)} (got false)"
            if o.SnapshotEntries < 0L then
                $"{name (nameof o.SnapshotEntries)} must not be negative (got {o.SnapshotEntries}; 0 turns count-based snapshots off)"
            if o.SnapshotLogBytes < 0L then
                $"{name (nameof o.SnapshotLogBytes)} must not be negative (got {o.SnapshotLogBytes}; 0 turns size-based snapshots off)"
            if o.CompactionTrailing < 0L then
                $"{name (nameof o.CompactionTrailing)} must not be negative (got {o.CompactionTrailing})"
            if o.LearnerCatchUpLag < 0L then
                $"{name (nameof o.LearnerCatchUpLag)} must not be negative (got {o.LearnerCatchUpLag})"
            if o.SnapshotChunkBytes < 1 then $"{name (nameof o.SnapshotChunkBytes)} must be positive (got {o.SnapshotChunkBytes})"
        ]

    /// Every rule `o` breaks, naming the fields as the record does.
    let problems (o: RaftOptions) : string list = problemsNamed id o

    /// Checks every field; the error lists every broken rule (see `problems`), separated by "; ".
    let validate (o: RaftOptions) : Result<RaftOptions, string> =
        match problems o with
        | [] -> Ok o
        | found -> Error(String.concat "; " found)

type RaftOptions with
    /// Every rule these options break (see `RaftOptions.problemsNamed`): `name` maps a field's name to the name the
    /// messages show, e.g. a property or a configuration key. Empty when the options are valid.
    member o.Problems(name: System.Func<string, string>) : System.Collections.Generic.IReadOnlyList<string> =
        RaftOptions.problemsNamed name.Invoke o |> List.toArray :> _
