namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// A log as a simulated disk holds it: contiguous entries (SnapIndex, LastIndex] after an optional snapshot.
[<Sealed>]
type LogStore<'T>() =
    let entries = ResizeArray<Entry<'T>>()
    let mutable snapIndex = 0L<index>
    let mutable snapTerm = 0L<term>

    /// Index covered by the snapshot the log starts after (0 when none).
    member _.SnapIndex = snapIndex
    /// Index of the last entry (SnapIndex when empty).
    member _.LastIndex = snapIndex + int64 entries.Count * 1L<index>
    /// Number of entries held.
    member _.Count = entries.Count

    /// The entry at `i` (SnapIndex < i <= LastIndex).
    member _.Get(i: Index) : Entry<'T> = entries[int (i - snapIndex) - 1]

    /// The term at `i`: the snapshot's term at SnapIndex, ValueNone when compacted or beyond the end.
    member this.TermAt(i: Index) : Term voption =
        if i = snapIndex then ValueSome snapTerm
        elif i < snapIndex || i > this.LastIndex then ValueNone
        else ValueSome (this.Get i : Entry<'T>).Term

    /// Truncates at `batch[0].Index` and appends `batch` (the Persist contract). Throws when the batch would
    /// leave a gap or rewrite the snapshot: the core asked for an impossible write.
    member this.TruncateAppend(batch: Entry<'T>[]) =
        if batch.Length > 0 then
            let first = batch[0].Index

            if first <= snapIndex then
                invalidOp $"write at {first} rewrites the snapshot at {snapIndex}"
            elif first > this.LastIndex + 1L<index> then
                invalidOp $"write at {first} leaves a gap after the last index {this.LastIndex}"

            entries.RemoveRange(int (first - snapIndex) - 1, int (this.LastIndex - first) + 1)
            entries.AddRange batch

    /// Entries [from, upTo] clipped to what is held.
    member this.Slice(from: Index, upTo: Index) : Entry<'T>[] =
        let from = max from (snapIndex + 1L<index>)
        let upTo = min upTo this.LastIndex
        if upTo < from then [||]
        else entries.GetRange(int (from - snapIndex) - 1, int (upTo - from) + 1).ToArray()

    /// Drops entries up to `upTo` (a snapshot covers them).
    member this.CompactTo(upTo: Index) =
        if upTo > snapIndex then
            let upTo = min upTo this.LastIndex
            let term = this.TermAt upTo |> ValueOption.defaultValue snapTerm
            entries.RemoveRange(0, int (upTo - snapIndex))
            snapIndex <- upTo
            snapTerm <- term

    /// Replaces the whole log by an empty one after a snapshot at (index, term).
    member _.ResetTo(index: Index, term: Term) =
        entries.Clear()
        snapIndex <- index
        snapTerm <- term

    /// Makes this log a copy of `other`.
    member this.CopyFrom(other: LogStore<'T>) =
        this.ResetTo(other.SnapIndex, other.TermAt other.SnapIndex |> ValueOption.defaultValue 0L<term>)
        entries.AddRange(other.Slice(other.SnapIndex + 1L<index>, other.LastIndex))

    /// Terms of the log as runs of (first index, term), oldest first.
    member _.TermRuns() : struct (Index * Term)[] =
        let runs = ResizeArray()

        for i in 0 .. entries.Count - 1 do
            if i = 0 || entries[i].Term <> entries[i - 1].Term then
                runs.Add(struct (entries[i].Index, entries[i].Term))

        runs.ToArray()

/// A snapshot as stored on a simulated disk.
type StoredSnapshot = { Meta: SnapshotMeta; Data: byte[] }

/// One node's simulated disk. `Written` is the log as the node sees it (every write issued so far, durable or
/// not: what LoadEntries reads); `Durable` is what survives a crash. Writes become durable strictly in order.
[<Sealed>]
type Disk<'T>(initial: HardState) =
    let written = LogStore<'T>()
    let durable = LogStore<'T>()
    let pending = Queue<PersistRequest<'T>>()
    let mutable durableHard = initial
    let mutable lastDurableAt = 0L
    let mutable snapshot: StoredSnapshot voption = ValueNone
    // Every snapshot taken or installed, by (index, term): a leader may still be streaming an older one.
    let kept = Dictionary<struct (Index * Term), StoredSnapshot>()
    // A snapshot being received in chunks: (its metadata, bytes so far). Lost on a crash.
    let mutable staging: (SnapshotMeta * ResizeArray<byte>) voption = ValueNone
    // Writes issued and made durable so far, counted from the start (a crash drops the difference).
    let mutable issued = 0L
    let mutable completed = 0L
    // Abandoned transfers whose staged bytes go once every write issued before the abandon is durable:
    // (writes issued at the abandon, the snapshot's metadata), oldest first.
    let abandons = Queue<struct (int64 * SnapshotMeta)>()

    let install (chunk: SnapshotChunk) (log: LogStore<'T>) =
        log.ResetTo(chunk.Meta.Index, chunk.Meta.Term)

    /// The log including writes not yet durable.
    member _.Written = written
    /// The log that survives a crash.
    member _.Durable = durable
    /// The hard state that survives a crash.
    member _.DurableHardState = durableHard
    /// The newest durable snapshot.
    member _.Snapshot = snapshot
    /// A snapshot this disk holds with exactly this metadata (the newest or one a transfer still streams).
    member _.FindSnapshot(meta: SnapshotMeta) : StoredSnapshot voption =
        match kept.TryGetValue(struct (meta.Index, meta.Term)) with
        | true, s when s.Meta = meta -> ValueSome s
        | _ -> ValueNone

    /// Writes issued and not yet durable.
    member _.PendingCount = pending.Count

    /// Issues a write. Its entries join the written log at once; returns when it will be durable, which is
    /// never before an earlier write (`ready` is the earliest time this write alone could be durable).
    member _.Write(request: PersistRequest<'T>, ready: int64) : int64 =
        written.TruncateAppend request.Entries

        match request.Snapshot with
        | ValueSome chunk when chunk.Done -> install chunk written
        | _ -> ()

        pending.Enqueue request
        issued <- issued + 1L
        lastDurableAt <- max ready lastDurableAt
        lastDurableAt

    /// Makes the oldest pending write durable and returns it.
    member this.CompleteOldest() : PersistRequest<'T> =
        let request = pending.Dequeue()
        durable.TruncateAppend request.Entries

        match request.HardState with
        | ValueSome h -> durableHard <- h
        | ValueNone -> ()

        this.StageChunk request
        completed <- completed + 1L
        this.DropAbandoned()
        request

    /// The core abandoned a snapshot it was receiving: its staged bytes are deleted once the writes issued before
    /// (the chunks of that transfer among them) are durable, and before any later write (a chunk of a transfer
    /// replacing it) is staged.
    member this.Abandon(meta: SnapshotMeta) =
        abandons.Enqueue(struct (issued, meta))
        this.DropAbandoned()

    /// Deletes the staged bytes of every abandoned transfer whose earlier writes are durable. The core abandons
    /// only a transfer it wrote a chunk of, so anything else staged means the host and the core disagree.
    member private _.DropAbandoned() =
        let due () =
            abandons.Count > 0
            && (let struct (at, _) = abandons.Peek()
                at <= completed)

        while due () do
            let struct (_, meta) = abandons.Dequeue()

            match staging with
            | ValueSome(staged, _) when staged.Index = meta.Index && staged.Term = meta.Term -> staging <- ValueNone
            | ValueSome(staged, bytes) ->
                invalidOp $"the core abandoned the snapshot transfer of ({meta.Index}, {meta.Term}) while the disk stages ({staged.Index}, {staged.Term}) holding {bytes.Count} bytes"
            | ValueNone -> invalidOp $"the core abandoned the snapshot transfer of ({meta.Index}, {meta.Term}), which the disk does not stage"

    /// Appends a written snapshot chunk to the staged snapshot, installing it when it is the last one.
    member private _.StageChunk(request: PersistRequest<'T>) =
        match request.Snapshot with
        | ValueSome chunk ->
            // The core writes a chunk only at the offset it expects next, so every chunk must continue the
            // staged snapshot of the same snapshot; anything else would assemble a corrupt snapshot. Like a host
            // that trusts the core, the disk appends a chunk of the staged snapshot whatever its offset (a chunk
            // written twice corrupts the snapshot, which the checks of the installed state then catch).
            // A snapshot is named by (index, term): a new leader resumes the transfer of the same snapshot, and
            // its metadata may differ from the old leader's in what neither can need again (the configuration
            // before the snapshot's, which no truncation can bring back), so the newest chunk's metadata is kept.
            // A transfer of another snapshot is staged only after the core abandoned the one before it.
            let bytes =
                match staging with
                | ValueSome(meta, bytes) when meta.Index = chunk.Meta.Index && meta.Term = chunk.Meta.Term ->
                    if chunk.Offset = 0L then ResizeArray() else bytes
                | ValueSome(meta, bytes) ->
                    invalidOp $"snapshot chunk of ({chunk.Meta.Index}, {chunk.Meta.Term}) at offset {chunk.Offset} arrives while the disk stages ({meta.Index}, {meta.Term}) holding {bytes.Count} bytes, never abandoned"
                | ValueNone -> ResizeArray()

            bytes.AddRange chunk.Data
            staging <- ValueSome(chunk.Meta, bytes)

            if chunk.Done then
                let s = { Meta = chunk.Meta; Data = bytes.ToArray() }
                snapshot <- ValueSome s
                kept[struct (s.Meta.Index, s.Meta.Term)] <- s
                staging <- ValueNone
                install chunk durable
        | ValueNone -> ()

    /// Stores a snapshot the node's own state machine took (durable at once: the simulator models the
    /// snapshot file's fsync and rename as part of SaveSnapshot).
    member _.SaveSnapshot(meta: SnapshotMeta, data: byte[]) =
        let s = { Meta = meta; Data = data }
        snapshot <- ValueSome s
        kept[struct (meta.Index, meta.Term)] <- s

    /// Deletes log entries covered by the snapshot (never beyond the durable snapshot's index).
    member _.Compact(upTo: Index) =
        let limit =
            match snapshot with
            | ValueSome s -> min upTo s.Meta.Index
            | ValueNone -> 0L<index>

        written.CompactTo limit
        durable.CompactTo limit

    /// A crash: every write not yet durable is lost. With `tear`, the write in progress (the oldest pending)
    /// is torn: `keepEntries` of its entries reach the disk, then its last snapshot chunk (the snapshot installed
    /// whole) when every entry did and `keepSnapshot` says so, then its hard state when everything before it did
    /// and `keepHardState` says so. A hard state is never written in part, and never before the entries and the
    /// snapshot of its own write: its commit index may cover them (a WAL writes the hard state record last).
    /// Returns whether a write was torn.
    member this.Crash(tear: bool, keepEntries: int -> int, keepSnapshot: unit -> bool, keepHardState: bool) : bool =
        let torn =
            if tear && pending.Count > 0 then
                let request = pending.Peek()
                let n = request.Entries.Length
                let keep = if n = 0 then 0 else keepEntries n
                if keep > 0 then durable.TruncateAppend(Array.sub request.Entries 0 keep)

                // The last chunk of a snapshot is installed (atomically, as a file rename) after the entries and
                // before the hard state, whose commit index may count on it: a commit index that survives without
                // the snapshot it came with would commit the log's own, divergent entries up to it.
                let installed =
                    match request.Snapshot with
                    | ValueSome chunk when chunk.Done && keep = n && keepSnapshot () ->
                        this.StageChunk request
                        true
                    | _ -> false

                let snapshotLanded = installed || (match request.Snapshot with ValueSome chunk -> not chunk.Done | ValueNone -> true)
                let hardToo = keepHardState && keep = n && snapshotLanded && request.HardState.IsSome

                if hardToo then
                    durableHard <- request.HardState.Value

                keep > 0 || installed || hardToo
            else
                false

        pending.Clear()
        staging <- ValueNone
        abandons.Clear()
        issued <- completed
        written.CopyFrom durable
        lastDurableAt <- 0L
        torn

    /// What a restarting node reads back: hard state, snapshot, term runs and the newest `tail` entries.
    /// The state machine starts empty (or from the snapshot), so Applied is the snapshot's index (0 when none).
    member _.RestoreInfo(tail: int) : RestoreInfo<'T> =
        let snapMeta = snapshot |> ValueOption.map (fun s -> s.Meta)
        // The state machine is restored from the snapshot, so everything up to its index counts as applied.
        let applied = match snapMeta with ValueSome m -> m.Index | ValueNone -> 0L<index>
        let last = durable.LastIndex
        let from = max (max durable.SnapIndex applied + 1L<index>) (last - int64 tail * 1L<index> + 1L<index>)

        {
            HardState = durableHard
            Snapshot = snapMeta
            LastIndex = last
            TermRuns = durable.TermRuns()
            Tail = durable.Slice(from, last)
            Configs = Node.configEntries (durable.Slice(max durable.SnapIndex applied + 1L<index>, last))
            Applied = applied
            // Staged chunks are not kept across a crash here: a transfer starts again from offset 0.
            Receiving = ValueNone
        }
