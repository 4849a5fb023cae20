namespace Raft.Core

open Common

/// The leader's side of log replication (§5.3): sending AppendEntries under flow control, handling
/// acknowledgements and rejections, advancing the commit index (§5.4.2) and heartbeats.
module internal Replication =
    /// What one attempt to send to a peer did.
    [<Struct>]
    type SendOutcome =
        | Sent
        | Idle
        | NeedsSnapshot

    let withProgress (peer: NodeId) (p: Progress) (s: State<'T>) =
        let l = leaderState s

        match Peers.tryFind peer l.Peers with
        | ValueSome old when LanguagePrimitives.PhysicalEquality old p -> s
        | _ -> { s with Role = Leader { l with Peers = Peers.set peer p l.Peers } }

    let private entriesBytes (entries: Entry<'T>[]) =
        let mutable total = 0L
        for e in entries do total <- total + int64 e.Size
        total

    /// Starts sending the newest snapshot to `peer` (§7): the host reads chunks, the peer answers each.
    let startSnapshotTransfer (fx: Fx<'T>) (peer: NodeId) (s: State<'T>) =
        match s.LatestSnapshot, Peers.tryFind peer (leaderState s).Peers with
        | ValueNone, _ -> invalidOp $"entries before {RaftLog.firstIndex s.Log} were compacted without a snapshot"
        | ValueSome meta, ValueSome p ->
            let transferId = s.Sequence + 1L
            let s = { s with Slow = { s.Slow with Sequence = transferId } }

            let p =
                { p with
                    Mode = SnapshotTransfer(transferId, meta, 0L)
                    ChunkPending = true
                    ProbeSent = false
                    Loading = false
                    Inflights = Inflights.empty }

            fx.Emit(ReadSnapshotChunk(peer, meta, transferId, 0L, s.Options.SnapshotChunkBytes))
            withProgress peer p s
        | ValueSome _, ValueNone -> s

    /// Sends AppendEntries carrying `entries` after (prevIndex, prevTerm) with `log`'s commit index; returns the
    /// peer's progress recording it.
    let private sendTo (fx: Fx<'T>) (peer: NodeId) (p: Progress) (prevIndex: Index) (prevTerm: Term) (entries: Entry<'T>[]) (log: RaftLog<'T>) (s: State<'T>) =
        fx.Send(message s peer (AppendEntries { PrevIndex = prevIndex; PrevTerm = prevTerm; Entries = entries; Commit = log.Committed }))
        let last = if entries.Length = 0 then prevIndex else entries[entries.Length - 1].Index
        Progress.sentEntries last (entriesBytes entries) p

    /// Sends AppendEntries carrying `entries` after (prevIndex, prevTerm) and records it in the peer's progress.
    let sendEntries (fx: Fx<'T>) (peer: NodeId) (p: Progress) (prevIndex: Index) (prevTerm: Term) (entries: Entry<'T>[]) (s: State<'T>) =
        withProgress peer (sendTo fx peer p prevIndex prevTerm entries s.Log s) s

    /// Sends one AppendEntries from `log` to `peer` (whose progress is `p`) when flow control allows. An empty one
    /// (commit only, or a probe) is sent only with `sendIfEmpty`. Returns the peer's progress, whether a message
    /// left (`NeedsSnapshot` when the entries it needs were compacted) and the entries sent (`shared` when none
    /// were). `shared` is sent itself when it holds exactly the entries due, so peers at the same position share
    /// one array. Only the progress changes, so a broadcast stores every peer's progress at once.
    let private sendOne (fx: Fx<'T>) (sendIfEmpty: bool) (peer: NodeId) (p: Progress) (shared: Entry<'T>[] | null) (log: RaftLog<'T>) (s: State<'T>) : struct (Progress * SendOutcome * Entry<'T>[] | null) =
        let o = s.Options

        if Progress.isPaused o.MaxInflightMsgs o.MaxInflightBytes p then
            struct (p, Idle, shared)
        else
            let prevIndex = p.Next - 1L<index>

            match RaftLog.termAt log prevIndex with
            | ValueNone -> struct (p, NeedsSnapshot, shared)
            // Nothing new and nothing to say: the common answer to an acknowledgement, decided before any slicing.
            | ValueSome _ when p.Next > log.LastIndex && not sendIfEmpty -> struct (p, Idle, shared)
            | ValueSome prevTerm ->
                let budget =
                    if o.MaxInflightBytes > 0L then max 1L (min o.MaxSizePerMsg (o.MaxInflightBytes - p.Inflights.Bytes))
                    else o.MaxSizePerMsg

                match RaftLog.entriesSharing log p.Next log.LastIndex budget shared with
                | ValueNone ->
                    let upTo = min log.LastIndex (p.Next + int64 o.MaxWindowEntries * 1L<index> - 1L<index>)
                    fx.Emit(LoadEntries(ForPeer peer, p.Next, upTo))
                    struct ({ p with Loading = true }, Idle, shared)
                | ValueSome entries when entries.Length = 0 && not sendIfEmpty -> struct (p, Idle, shared)
                | ValueSome entries -> struct (sendTo fx peer p prevIndex prevTerm entries log s, Sent, (if entries.Length = 0 then shared else entries))

    /// Sends to a peer everything flow control allows (one message in Probe, a pipeline in Replicate).
    let private pipeline (fx: Fx<'T>) (sendIfEmpty: bool) (peer: NodeId) (p: Progress) (shared: Entry<'T>[] | null) (log: RaftLog<'T>) (s: State<'T>) : struct (Progress * SendOutcome * Entry<'T>[] | null) =
        let mutable struct (p, outcome, sent) = sendOne fx sendIfEmpty peer p shared log s
        // Only the first message of a pipeline can match what another peer was sent.
        let first = sent

        while outcome.IsSent && p.Mode.IsReplicate && p.Next <= log.LastIndex do
            let struct (p', outcome', sent') = sendOne fx false peer p shared log s
            p <- p'
            outcome <- outcome'
            sent <- sent'

        struct (p, outcome, first)

    /// Sends to `peer` everything flow control allows (one message in Probe, a pipeline in Replicate).
    let replicate (fx: Fx<'T>) (sendIfEmpty: bool) (peer: NodeId) (s: State<'T>) =
        match Peers.tryFind peer (leaderState s).Peers with
        | ValueNone -> s
        | ValueSome p ->
            let struct (p, outcome, _) = pipeline fx sendIfEmpty peer p null s.Log s
            let s = withProgress peer p s
            if outcome.IsNeedsSnapshot then startSnapshotTransfer fx peer s else s

    /// Replicates `log` to every peer of `l` and returns `s` with `log` and `l` (with the peers' new progress)
    /// stored in one copy: the caller's changes to the log and leader state and this round's progress cost one
    /// state, not one per stage. `s`'s own log and role may be stale. With `itemsFresh`, `l`'s progress array is
    /// held by no state yet and is written in place. `shared`: entries a peer may be sent as they are (or null).
    let broadcastWith (fx: Fx<'T>) (sendIfEmpty: bool) (shared: Entry<'T>[] | null) (itemsFresh: bool) (log: RaftLog<'T>) (l: LeaderState) (s: State<'T>) =
        let mutable log = log
        let mutable l = l
        let mutable s = s
        let mutable shared = shared
        // This round's progress in an array no state holds yet (so it is written in place), or none when unchanged.
        let mutable items: Progress[] voption = if itemsFresh then ValueSome l.Peers.Items else ValueNone
        let ids = l.Peers.Ids

        for i in 0 .. ids.Length - 1 do
            let current =
                match items with
                | ValueSome a -> a[i]
                | ValueNone -> l.Peers.Items[i]

            let struct (p, outcome, sent) = pipeline fx sendIfEmpty ids[i] current shared log s
            shared <- sent

            if not (LanguagePrimitives.PhysicalEquality p current) then
                let a =
                    match items with
                    | ValueSome a -> a
                    | ValueNone -> Peers.copyItems l.Peers

                a[i] <- p
                items <- ValueSome a

            if outcome.IsNeedsSnapshot then
                // Store everything so far, then let the snapshot transfer update the state as it does alone.
                let peers =
                    match items with
                    | ValueSome a -> { Ids = ids; Items = a }
                    | ValueNone -> l.Peers

                s <- startSnapshotTransfer fx ids[i] { s with Log = log; Role = Leader { l with Peers = peers } }
                log <- s.Log
                l <- leaderState s
                items <- ValueNone

        match items with
        | ValueSome a -> { s with Log = log; Role = Leader { l with Peers = { Ids = ids; Items = a } } }
        | ValueNone ->
            // Nothing sent changed any progress: keep `s` when the caller changed nothing either.
            match s.Role with
            | Leader current when
                LanguagePrimitives.PhysicalEquality log s.Log
                && LanguagePrimitives.PhysicalEquality current.Peers.Items l.Peers.Items
                && current.UncommittedBytes = l.UncommittedBytes
                && LanguagePrimitives.PhysicalEquality current.Slow l.Slow
                ->
                s
            | _ -> { s with Log = log; Role = Leader l }

    /// Replicates to every peer; with `sendIfEmpty` every unpaused peer hears the new commit index.
    /// The peers' progress is stored once for the whole round, not once per peer.
    let broadcast (fx: Fx<'T>) (sendIfEmpty: bool) (s: State<'T>) =
        broadcastWith fx sendIfEmpty null false s.Log (leaderState s) s

    /// The leader's log with `entries` appended, evicting what the step end would evict except what a peer
    /// may still be sent in this step (from its next index on).
    let appendedLog (entries: Entry<'T>[]) (s: State<'T>) =
        let items = (leaderState s).Peers.Items
        let mutable keepFrom = s.Log.LastIndex + 1L<index>

        for p in items do
            if p.Next < keepFrom then keepFrom <- p.Next

        RaftLog.appendEvicting s.Log entries s.Options.MaxWindowEntries keepFrom

    /// Appends entries to the leader's own log and asks for them to be persisted; the leader counts itself
    /// toward a quorum only once they are durable (thesis §10.2.1).
    let appendLocal (fx: Fx<'T>) (entries: Entry<'T>[]) (s: State<'T>) =
        fx.PersistEntries entries
        { s with Log = appendedLog entries s }

    /// The index `id` holds durably as far as the leader knows (its own stable index for itself).
    let private acked (self: NodeId) (stable: Index) (peers: Peers) (id: NodeId) =
        if id = self then stable
        else
            match Peers.tryFind id peers with
            | ValueSome p -> p.Match
            | ValueNone -> 0L<index>

    /// The index a quorum holds according to `l`'s progress when it may be committed now (counting only an entry
    /// of the current term, §5.4.2), else the current commit index.
    let private quorumIndex (l: LeaderState) (s: State<'T>) : Index =
        let self = s.Options.Id
        let stable = s.Log.Stable
        let q = l.Slow.Quorum

        let index =
            if LanguagePrimitives.PhysicalEquality q.Of s.Config.Current then
                min (Quorum.majorityIndexOf q.Voters (fun id -> acked self stable l.Peers id)) (Quorum.majorityIndexOf q.Outgoing (fun id -> acked self stable l.Peers id))
            else
                Quorum.committedIndex s.Config.Current (acked self stable l.Peers)

        // matchTerm rather than comparing value options, which goes through F#'s generic equality.
        if index > s.Log.Committed && (RaftLog.matchTerm s.Log index s.Term || s.PlantedBugs.Contains CommitOldTermByCounting) then index
        else s.Log.Committed

    /// The log with the commit index raised to `index` and leader state `l` with the committed bytes freed.
    let private committedParts (l: LeaderState) (index: Index) (s: State<'T>) : struct (RaftLog<'T> * LeaderState) =
        // Committed entries of this term no longer count against the uncommitted-bytes cap.
        let mutable freed = 0L
        let mutable i = max (s.Log.Committed + 1L<index>) s.Log.Window.First

        while i <= index do
            let e = EntryWindow.get s.Log.Window i
            if e.Term = s.Term then freed <- freed + int64 e.Size
            i <- i + 1L<index>

        struct (RaftLog.commitTo s.Log index, { l with UncommittedBytes = max 0L (l.UncommittedBytes - freed) })

    /// The state with leader state `l` and the commit index raised to `index`.
    let private committedTo (l: LeaderState) (index: Index) (s: State<'T>) =
        let struct (log, l) = committedParts l index s
        { s with Log = log; Role = Leader l }

    /// Advances the commit index to what a quorum holds, counting only an entry of the current term (§5.4.2).
    /// Returns whether it advanced.
    let maybeCommit (s: State<'T>) : struct (State<'T> * bool) =
        let l = leaderState s
        let index = quorumIndex l s
        if index > s.Log.Committed then struct (committedTo l index s, true) else struct (s, false)

    /// Commits what can be committed and, when the index moved, replicates what is pending (with
    /// `BroadcastCommit`, every follower hears the new commit index at once).
    let commitAndBroadcast (fx: Fx<'T>) (s: State<'T>) =
        let struct (s, advanced) = maybeCommit s
        if advanced then broadcast fx s.Options.BroadcastCommit s else s

    /// Sends `peer` (whose progress is `p`) a heartbeat carrying the commit index it can safely learn (never beyond
    /// its match) and a read context (0 for none).
    let sendHeartbeat (fx: Fx<'T>) (peer: NodeId) (p: Progress) (context: int64) (s: State<'T>) =
        fx.Send(message s peer (Heartbeat { Commit = min p.Match s.Log.Committed; Context = context }))

    /// Sends a heartbeat carrying the commit index each follower can safely learn, and a read context.
    let broadcastHeartbeat (fx: Fx<'T>) (context: int64) (s: State<'T>) =
        let peers = (leaderState s).Peers

        for i in 0 .. peers.Ids.Length - 1 do
            sendHeartbeat fx peers.Ids[i] peers.Items[i] context s

    /// Handles an AppendEntries answer from `peer`.
    let onAppendResponse (fx: Fx<'T>) (peer: NodeId) (r: AppendResponse) (s: State<'T>) =
        match Peers.tryFind peer (leaderState s).Peers with
        | ValueNone -> s
        | ValueSome p ->
            let p = if p.RecentActive then p else { p with RecentActive = true }

            if not r.Success then
                let agreed = RaftLog.findConflictByTerm s.Log r.HintIndex r.HintTerm

                match Progress.reject r.Index (agreed + 1L<index>) p with
                | ValueNone -> withProgress peer p s
                | ValueSome p -> withProgress peer p s |> replicate fx true peer
            else
                let struct (updated, p) = Progress.acknowledge r.Index p

                let p =
                    match p.Mode with
                    | Probe -> Progress.becomeReplicate p
                    | SnapshotTransfer(_, meta, _) when p.Match >= meta.Index -> Progress.becomeProbe p
                    | _ -> p

                let s =
                    if not updated then
                        withProgress peer p s
                    else
                        // Progress, commit index and the broadcast's progress stored in one copy of the state.
                        let l = leaderState s
                        let l = { l with Peers = Peers.set peer p l.Peers }
                        let index = quorumIndex l s

                        if index > s.Log.Committed then
                            let struct (log, l) = committedParts l index s
                            // Peers.set made an array no state holds: the broadcast writes into it.
                            broadcastWith fx s.Options.BroadcastCommit null true log l s
                        else
                            withLeader l s

                replicate fx false peer s

    /// Handles a heartbeat answer: the peer is alive; a lagging or probing peer is sent entries.
    let onHeartbeatResponse (fx: Fx<'T>) (peer: NodeId) (s: State<'T>) =
        match Peers.tryFind peer (leaderState s).Peers with
        | ValueNone -> s
        | ValueSome p ->
            let p = { p with RecentActive = true; ProbeSent = false }
            // A full window whose AppendEntries were lost (the peer restarted, a connection dropped) would never drain:
            // free one slot so the next append leaves; the peer acknowledges it or rejects it, which resets the pipeline.
            let p =
                match p.Mode with
                | Replicate when Inflights.isFull s.Options.MaxInflightMsgs s.Options.MaxInflightBytes p.Inflights ->
                    { p with Inflights = Inflights.freeFirst p.Inflights }
                | _ -> p
            let s = withProgress peer p s

            match p.Mode with
            | SnapshotTransfer(transferId, meta, offset) ->
                // A chunk or its answer may have been lost: ask for the expected chunk again (offsets make it harmless).
                fx.Emit(ReadSnapshotChunk(peer, meta, transferId, offset, s.Options.SnapshotChunkBytes))
                s
            | _ when p.Match < s.Log.LastIndex -> replicate fx true peer s
            | _ -> s
