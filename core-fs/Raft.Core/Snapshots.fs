namespace Raft.Core

open Common

/// Snapshots (§7): asking the host for one, compacting the log behind it, the leader's chunked
/// InstallSnapshot and the follower's offset-checked install.
module internal Snapshots =
    /// Gives up the snapshot being received, when there is one: the host deletes its partial data.
    let private abandonIncoming (fx: Fx<'T>) (s: State<'T>) =
        match s.Incoming with
        | ValueSome inc ->
            fx.AbandonSnapshot inc.Meta
            { s with Slow = { s.Slow with Incoming = ValueNone } }
        | ValueNone -> s

    /// Asks the host for a snapshot when a threshold is crossed. The snapshot is taken at the last index handed
    /// out in Apply effects: the host carries out effects in order, so when it reaches SaveSnapshot its state
    /// machine has applied exactly that far (the Applied completions may still be on their way back).
    let maybeRequest (fx: Fx<'T>) (s: State<'T>) =
        // A transfer the log overtook (a new leader sent entries instead of the rest of the chunks) would never
        // finish, and while it is pending no snapshot of our own is taken: the log would grow without bound.
        let s =
            match s.Incoming with
            | ValueSome inc when inc.Meta.Index <= s.Log.Committed -> abandonIncoming fx s
            | _ -> s
        let o = s.Options
        let latest = match s.LatestSnapshot with ValueSome m -> m.Index | ValueNone -> 0L<index>
        let applied = s.Log.Applying
        let byEntries = o.SnapshotEntries > 0L && int64 (applied - latest) >= o.SnapshotEntries
        let byBytes = o.SnapshotLogBytes > 0L && s.Log.Bytes >= o.SnapshotLogBytes && applied > latest

        if s.SnapshotPending || s.Incoming.IsSome || not (byEntries || byBytes) then
            s
        else
            match RaftLog.termAt s.Log applied, Reconfiguration.at s.Config applied with
            | ValueSome term, ValueSome m ->
                let index = if applied >= s.Config.CurrentIndex then s.Config.CurrentIndex else s.Config.PreviousIndex
                let config = { Current = m; CurrentIndex = index; Previous = m; PreviousIndex = index }
                fx.Emit(SaveSnapshot { Index = applied; Term = term; Config = config })
                { s with Slow = { s.Slow with SnapshotPending = true } }
            | _ -> s

    /// The host wrote a snapshot: remember it and compact the log behind it, keeping a trailing window.
    let onSaved (fx: Fx<'T>) (meta: SnapshotMeta) (s: State<'T>) =
        let s = { s with Slow = { s.Slow with SnapshotPending = false } }
        let newer = match s.LatestSnapshot with ValueSome m -> meta.Index > m.Index | ValueNone -> true

        if not newer || not (RaftLog.matchTerm s.Log meta.Index meta.Term) then
            s
        else
            let s = { s with Slow = { s.Slow with LatestSnapshot = ValueSome meta } }
            let upTo = max s.Log.SnapIndex (meta.Index - s.Options.CompactionTrailing * 1L<index>)

            match RaftLog.termAt s.Log upTo with
            | ValueSome term when upTo > s.Log.SnapIndex ->
                fx.Emit(CompactLog upTo)
                { s with Log = { RaftLog.compactTo s.Log upTo term with Bytes = 0L } }
            | _ -> s

    /// The host read a chunk the leader asked for: send it when the transfer is still the current one.
    let onChunkLoaded (fx: Fx<'T>) (peer: NodeId) (c: SnapshotChunk) (s: State<'T>) =
        match s.Role with
        | Leader l ->
            match Peers.tryFind peer l.Peers with
            | ValueSome { Mode = SnapshotTransfer(id, meta, offset) } when id = c.TransferId && offset = c.Offset ->
                fx.Send(message s peer (InstallSnapshot { c with Meta = meta }))

                s
            | _ -> s
        | _ -> s

    /// A follower's answer to a chunk.
    let onResponse (fx: Fx<'T>) (peer: NodeId) (r: SnapshotResponse) (s: State<'T>) =
        match s.Role with
        | Leader l ->
            match Peers.tryFind peer l.Peers with
            | ValueSome({ Mode = SnapshotTransfer(id, meta, _) } as p) when id = r.TransferId ->
                let p = { p with RecentActive = true }

                if r.Installed then
                    let p = Progress.becomeProbe { p with Match = max p.Match r.SnapshotIndex; ChunkPending = false }
                    let s = Replication.withProgress peer p s
                    Replication.replicate fx true peer s
                else
                    fx.Emit(ReadSnapshotChunk(peer, meta, id, r.NextOffset, s.Options.SnapshotChunkBytes))
                    Replication.withProgress peer { p with Mode = SnapshotTransfer(id, meta, r.NextOffset); ChunkPending = true } s
            | _ -> s
        | _ -> s

    /// A chunk from the leader of the current term. Each chunk is written only at the offset expected next,
    /// so duplicates and reorders are harmless; a transfer of the same snapshot under a new id resumes.
    let onChunk (fx: Fx<'T>) (m: Message<'T>) (c: SnapshotChunk) (s: State<'T>) =
        let respond nextOffset installed =
            fx.SendAfterDurable(
                message s m.From (InstallSnapshotResponse { SnapshotIndex = c.Meta.Index; TransferId = c.TransferId; NextOffset = nextOffset; Installed = installed })
            )

        let meta = c.Meta

        if meta.Index <= s.Log.Committed then
            respond 0L true
            s
        elif RaftLog.matchTerm s.Log meta.Index meta.Term then
            // Our log already holds the snapshot's last entry (at the first chunk, or because entries from the leader
            // overtook the transfer): by log matching it holds everything the snapshot covers, so the transfer is
            // moot (§7: retain the entries after it). Installing it now would reset the log to the snapshot and lose
            // entries this node may already have acknowledged (seed 108451977588225: acknowledged 448, then the last
            // chunk of snapshot 447 reset the log to 447, and the leader, its match at 448, never sent 448 again).
            // The leader is told the snapshot is installed, but the host has nothing to install: a partial transfer
            // (of this snapshot or any other) is abandoned.
            respond 0L true
            { abandonIncoming fx s with Log = RaftLog.commitTo s.Log meta.Index }
        else
            // A snapshot is named by its last index and term.
            let sameSnapshot (inc: IncomingSnapshot) = inc.Meta.Index = meta.Index && inc.Meta.Term = meta.Term

            let incoming =
                match s.Incoming with
                // Transfer ids are not unique across leaders: a chunk continues a transfer only for the same snapshot.
                | ValueSome inc when inc.TransferId = c.TransferId && sameSnapshot inc -> ValueSome inc
                | ValueSome inc when sameSnapshot inc -> ValueSome { inc with TransferId = c.TransferId }
                | _ when c.Offset = 0L -> ValueSome { TransferId = c.TransferId; Meta = meta; NextOffset = 0L }
                | _ -> ValueNone

            // The first chunk of another snapshot replaces the transfer in progress.
            let s =
                match s.Incoming, incoming with
                | ValueSome old, ValueSome _ when not (sameSnapshot old) -> abandonIncoming fx s
                | _ -> s

            match incoming with
            | ValueNone ->
                // A chunk of a transfer we know nothing of (stale, or we restarted): ask for its start.
                respond 0L false
                s
            | ValueSome inc when c.Offset = inc.NextOffset || s.PlantedBugs.Contains AcceptSnapshotChunkAtAnyOffset ->
                fx.PersistSnapshotChunk c
                let next = inc.NextOffset + int64 c.Data.Length

                if c.Done then
                    respond next true
                    // The state machine holds the snapshot only once the host has carried out this Persist: until
                    // it reports Applied for the snapshot's index, reads must not be served from it.
                    let log = RaftLog.installSnapshot meta.Index meta.Term

                    { s with
                        Log = { log with Applied = min s.Log.Applied log.Applied }
                        Slow =
                            { s.Slow with
                                Config = meta.Config
                                LatestSnapshot = ValueSome meta
                                Incoming = ValueNone
                                ApplyLoading = false } }
                else
                    respond next false
                    { s with Slow = { s.Slow with Incoming = ValueSome { inc with NextOffset = next } } }
            | ValueSome inc ->
                respond inc.NextOffset false
                { s with Slow = { s.Slow with Incoming = ValueSome inc } }
