namespace Raft.Core

/// What a restarting node reads back from its disk.
type RestoreInfo<'T> =
    {
        HardState: HardState
        /// The newest snapshot, when one was taken or installed.
        Snapshot: SnapshotMeta voption
        /// Index of the last durable entry (the snapshot's index when the log after it is empty).
        LastIndex: Index
        /// Terms of (snapshot index, LastIndex] as runs of (first index, term), oldest first.
        TermRuns: struct (Index * Term)[]
        /// The newest entries, contiguous and ending at LastIndex (may be empty; older ones are loaded on demand).
        Tail: Entry<'T>[]
        /// The configuration entries of the log after the snapshot, as (index, membership), oldest first; the newest
        /// two are enough. The configuration in force is the newest one in the log, and the hard state cannot say
        /// which that is: a crash between a write's entries and its hard state leaves a log the hard state does not
        /// describe (a configuration entry it never saw, or one a later write overwrote).
        Configs: struct (Index * Membership)[]
        /// Index up to which the state machine already holds the effects (at least the snapshot's index).
        Applied: Index
        /// A snapshot that was being received, with the bytes durably written so far, so the transfer resumes
        /// where it stopped (ValueNone when none, or when the host does not keep partial snapshots durably).
        Receiving: IncomingSnapshot voption
    }

/// How a leader replicates to one peer (status documents; mirrors the leader's flow-control mode).
type ReplicaMode =
    /// Finding the peer's match: one AppendEntries at a time.
    | Probe = 0
    /// Pipelining AppendEntries up to the in-flight limits.
    | Replicate = 1
    /// Sending the peer a snapshot.
    | Snapshot = 2

/// A leader's view of one peer, for status documents.
type ReplicaProgress =
    {
        Node: NodeId
        /// Highest index known replicated on the peer.
        Match: Index
        /// Next index to send.
        Next: Index
        Mode: ReplicaMode
        /// AppendEntries sent and not yet acknowledged.
        Inflight: int
        /// Heard from since the last CheckQuorum round.
        RecentActive: bool
        /// Flow control holds replication to it: its in-flight window is full, a probe or an entry load is
        /// outstanding, or a snapshot is in transfer.
        Paused: bool
    }

/// The public face of the core: create a node, feed it inputs, read its state.
/// `step` is pure and total: the same state and input always give the same next state and effects.
[<RequireQualifiedAccess>]
module Node =
    let private fresh (options: RaftOptions) (config: ConfigState) (log: RaftLog<'T>) (term: Term) (vote: NodeId) : State<'T> =
        let s =
            {
                Log = log
                Role = Follower
                Leader = Ids.none
                ElectionElapsed = 0
                Slow =
                    {
                        Options = options
                        Term = term
                        Vote = vote
                        Config = config
                        PersistedHardState = { Term = term; Vote = vote; Commit = log.Committed; Config = config }
                        Prng = Prng.create options.Seed
                        RandomizedTimeout = options.ElectionTicks
                        ApplyLoading = false
                        Sequence = 0L
                        ReadsAwaitingApply = []
                        ForwardedReads = Map.empty
                        LatestSnapshot = ValueNone
                        SnapshotPending = false
                        Incoming = ValueNone
                        PlantedBugs = Set.empty
                    }
            }

        Common.resetElectionTimer s

    /// The configuration of a brand-new cluster of `voters`.
    let initialConfig (voters: NodeId seq) : ConfigState =
        let m = { Voters = Set.ofSeq voters; Outgoing = Set.empty; Learners = Set.empty; LearnersNext = Set.empty; AutoLeave = false }
        { Current = m; CurrentIndex = 0L<index>; Previous = m; PreviousIndex = 0L<index> }

    /// A node of a brand-new cluster whose members are `voters` (every node must be given the same set).
    let bootstrap (options: RaftOptions) (voters: NodeId seq) : Result<State<'T>, string> =
        match RaftOptions.validate options with
        | Error e -> Error e
        | Ok options ->
            let config = initialConfig voters

            if config.Current.Voters.IsEmpty then Error "voters must not be empty"
            else Ok(fresh options config (RaftLog.afterSnapshot 0L<index> 0L<term>) 0L<term> Ids.none)

    /// A brand-new node joining an existing cluster: it knows no members and never campaigns until a
    /// configuration entry (or snapshot) from the leader names it a voter. Add it with a configuration change.
    let join (options: RaftOptions) : Result<State<'T>, string> =
        match RaftOptions.validate options with
        | Error e -> Error e
        | Ok options -> Ok(fresh options (initialConfig []) (RaftLog.afterSnapshot 0L<index> 0L<term>) 0L<term> Ids.none)

    /// The configuration entries among `entries`, as (index, membership) in their order: what RestoreInfo.Configs holds.
    let configEntries (entries: Entry<'T> seq) : struct (Index * Membership)[] =
        entries
        |> Seq.choose (fun e -> match e.Payload with Config m -> Some(struct (e.Index, m)) | _ -> None)
        |> Array.ofSeq

    /// The configuration state of a restarted node: the snapshot's (or, without one, the bootstrap configuration
    /// at index 0, which only the hard state records), advanced by every configuration entry of the log.
    let private restoredConfig (hard: ConfigState) (snapshot: ConfigState voption) (configs: struct (Index * Membership)[]) =
        let start =
            match snapshot with
            | ValueSome c -> c
            | ValueNone when hard.CurrentIndex = 0L<index> -> { hard with Previous = hard.Current; PreviousIndex = 0L<index> }
            | ValueNone when hard.PreviousIndex = 0L<index> -> { hard with Current = hard.Previous; CurrentIndex = 0L<index> }
            // The hard state knew two configuration entries of the log: the older one was committed before the newer
            // was appended, so the log still holds it and `configs` re-establishes it; what stands before it here can
            // never be needed again (no truncation reaches a committed entry).
            | ValueNone -> { hard with Current = hard.Previous; CurrentIndex = hard.PreviousIndex }

        configs
        |> Array.fold (fun config (struct (index, m)) -> if index > config.CurrentIndex then Reconfiguration.advance config index m else config) start

    /// A node restarting from what its disk holds.
    let restore (options: RaftOptions) (r: RestoreInfo<'T>) : Result<State<'T>, string> =
        match RaftOptions.validate options with
        | Error e -> Error e
        | Ok options ->
            let snapIndex, snapTerm, snapConfig =
                match r.Snapshot with
                | ValueSome m -> m.Index, m.Term, ValueSome m.Config
                | ValueNone -> 0L<index>, 0L<term>, ValueNone

            let tailOk =
                r.Tail.Length = 0
                || (r.Tail[r.Tail.Length - 1].Index = r.LastIndex
                    && r.Tail |> Array.pairwise |> Array.forall (fun (a, b) -> b.Index = a.Index + 1L<index>)
                    && r.Tail[0].Index > snapIndex)

            let configsOk =
                r.Configs |> Array.forall (fun struct (i, _) -> i > snapIndex && i <= r.LastIndex)
                && r.Configs |> Array.pairwise |> Array.forall (fun (struct (a, _), struct (b, _)) -> a < b)

            if r.LastIndex < snapIndex then Error $"LastIndex {r.LastIndex} is below the snapshot index {snapIndex}"
            elif not tailOk then Error "Tail must be contiguous entries after the snapshot ending at LastIndex"
            elif not configsOk then Error "Configs must be ascending indexes in (snapshot index, LastIndex]"
            elif r.Applied < snapIndex || r.Applied > r.LastIndex then Error $"Applied {r.Applied} must be in [{snapIndex}, {r.LastIndex}]"
            else
                let runs = TermRuns.ofPairs r.TermRuns |> fun runs -> TermRuns.dropBefore runs (snapIndex + 1L<index>)
                let first = if r.Tail.Length > 0 then r.Tail[0].Index else r.LastIndex + 1L<index>
                let window = r.Tail |> Array.fold EntryWindow.append (EntryWindow.empty first)
                let committed = max snapIndex (min r.HardState.Commit r.LastIndex)

                let log =
                    { RaftLog.afterSnapshot snapIndex snapTerm with
                        Terms = { SnapIndex = snapIndex; SnapTerm = snapTerm; Runs = runs }
                        LastIndex = r.LastIndex
                        Window = window
                        Stable = r.LastIndex
                        Committed = max committed r.Applied
                        Applying = r.Applied
                        Applied = r.Applied }

                let config = restoredConfig r.HardState.Config snapConfig r.Configs

                // A partial snapshot older than what the log already commits is of no use any more.
                let receiving = r.Receiving |> ValueOption.filter (fun inc -> inc.Meta.Index > log.Committed)
                let s = fresh options config log r.HardState.Term r.HardState.Vote
                Ok { s with Slow = { s.Slow with LatestSnapshot = r.Snapshot; Incoming = receiving } }

    /// Processes one input, returning the next state and the effects the host must carry out.
    let step (state: State<'T>) (input: Input<'T>) : State<'T> * Effect<'T> list =
        let struct (s, effects) = Step.step state input
        s, effects

    /// This node's id.
    let id (s: State<'T>) = s.Options.Id
    /// Current term.
    let term (s: State<'T>) = s.Term
    /// Known leader (0 when none).
    let leader (s: State<'T>) = s.Leader
    /// Current role.
    let role (s: State<'T>) = Common.roleKind s
    /// Index of the last entry.
    let lastIndex (s: State<'T>) = s.Log.LastIndex
    /// Commit index.
    let commitIndex (s: State<'T>) = s.Log.Committed
    /// Highest index the host reported applied.
    let appliedIndex (s: State<'T>) = s.Log.Applied
    /// Highest index durable on this node.
    let stableIndex (s: State<'T>) = s.Log.Stable
    /// First retained index (after the snapshot).
    let firstIndex (s: State<'T>) = RaftLog.firstIndex s.Log
    /// The term of a retained index (ValueNone when compacted or beyond the log).
    let termAt (s: State<'T>) (index: Index) = RaftLog.termAt s.Log index
    /// The configuration in effect.
    let membership (s: State<'T>) = s.Config.Current
    /// The hard state as last handed to the host.
    let hardState (s: State<'T>) = s.PersistedHardState

    /// The newest snapshot this node holds (taken locally or installed), if any.
    let latestSnapshot (s: State<'T>) = s.Slow.LatestSnapshot

    /// On a leader, what it knows of every other member (voters and learners): ValueNone on every other role.
    let replicas (s: State<'T>) : ReplicaProgress[] voption =
        match s.Role with
        | Leader l ->
            ValueSome(
                Array.map2
                    (fun id (p: Progress) ->
                        let mode =
                            match p.Mode with
                            | Probe -> ReplicaMode.Probe
                            | Replicate -> ReplicaMode.Replicate
                            | SnapshotTransfer _ -> ReplicaMode.Snapshot
                        { Node = id; Match = p.Match; Next = p.Next; Mode = mode; Inflight = p.Inflights.Count; RecentActive = p.RecentActive
                          Paused = Progress.isPaused s.Options.MaxInflightMsgs s.Options.MaxInflightBytes p })
                    l.Peers.Ids
                    l.Peers.Items
            )
        | _ -> ValueNone

    /// True on a leader every other member of which (voters and learners alike) has matched its last index: nothing
    /// is left to replicate. False on every other role. Allocates nothing.
    let peersCaughtUp (s: State<'T>) : bool =
        match s.Role with
        | Leader l ->
            let items = l.Peers.Items
            let last = s.Log.LastIndex
            let mutable i = 0

            while i < items.Length && items[i].Match = last do
                i <- i + 1

            i = items.Length
        | _ -> false

    /// Plants deliberate bugs (tests of the simulator only).
    let withPlantedBugs (bugs: PlantedBug seq) (s: State<'T>) = { s with Slow = { s.Slow with PlantedBugs = Set.ofSeq bugs } }

/// A C#-friendly facade over <see cref="Node"/>: methods instead of curried functions.
type RaftNode =
    /// A node of a new cluster; throws ArgumentException naming the bad field.
    static member Bootstrap<'T>(options: RaftOptions, voters: NodeId seq) : State<'T> =
        match Node.bootstrap options voters with
        | Ok s -> s
        | Error e -> invalidArg "options" e

    /// A new node joining an existing cluster; throws ArgumentException naming the bad field.
    static member Join<'T>(options: RaftOptions) : State<'T> =
        match Node.join options with
        | Ok s -> s
        | Error e -> invalidArg "options" e

    /// A node restarting from disk; throws ArgumentException naming the bad field.
    static member Restore<'T>(options: RaftOptions, restore: RestoreInfo<'T>) : State<'T> =
        match Node.restore options restore with
        | Ok s -> s
        | Error e -> invalidArg "restore" e

    /// Processes one input; returns the next state and the effects.
    static member Step<'T>(state: State<'T>, input: Input<'T>) : struct (State<'T> * Effect<'T> list) = Step.step state input
