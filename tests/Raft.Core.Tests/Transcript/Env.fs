/// The transcript harness's world: nodes running the real core, each with a simulated disk and state
/// machine, a network of sent-but-undelivered messages, an optional partition, and the output being built.
/// Everything is driven by the commands of a transcript; nothing here reads a clock or a random source.
module Raft.Core.Tests.Transcript.Env

open System
open System.Collections.Generic
open System.Text
open Raft.Core

/// A command misused in a transcript (bad arguments, unknown node): fails the transcript.
exception UsageError of string

let usage fmt = Printf.kprintf (fun s -> raise (UsageError s)) fmt

/// What survives a crash: the hard state and entries the host made durable, snapshots, and the state machine.
/// The state machine is durable here (as if applied with the same fsync), so `Applied` survives too.
type Disk =
    {
        mutable Hard: HardState
        /// Durable entries after `Offset`: entry i is at position i - Offset - 1 (earlier ones were compacted).
        Entries: ResizeArray<Entry<string>>
        /// Index of the last compacted entry (the entries on disk start at Offset + 1).
        mutable Offset: int64
        /// Last index applied to the state machine.
        mutable Applied: Index
        /// The state machine: the text of every applied command with its index (a restored snapshot's commands
        /// all carry the snapshot's index). Its snapshot bytes are the texts joined by commas.
        StateMachine: ResizeArray<struct (int64 * string)>
        /// Snapshot files the host holds, by (index, term); the newest is the one a restart reads.
        Snapshots: SortedDictionary<struct (int64 * int64), SnapshotMeta * byte[]>
        /// A snapshot being received: its (index, term) key and the bytes written so far.
        mutable Partial: (struct (int64 * int64) * ResizeArray<byte>) option
        /// The snapshot and transfer the partial file belongs to (kept durably, so a restart resumes it).
        mutable PartialOf: (SnapshotMeta * int64) option
    }

/// A fresh disk holding only the given hard state.
let emptyDisk (hard: HardState) =
    {
        Hard = hard
        Entries = ResizeArray()
        Offset = 0L
        Applied = 0L<index>
        StateMachine = ResizeArray()
        Snapshots = SortedDictionary()
        Partial = None
        PartialOf = None
    }

/// Index of the last durable entry (the compaction point when none is left).
let diskLastIndex (d: Disk) = d.Offset + int64 d.Entries.Count

/// The newest snapshot on the disk.
let latestSnapshot (d: Disk) =
    if d.Snapshots.Count = 0 then None else Some(Seq.last d.Snapshots.Values)

/// The state machine's snapshot bytes at `index` (the commands applied up to it, joined by commas).
let stateMachineBytes (d: Disk) (index: int64) =
    d.StateMachine
    |> Seq.filter (fun struct (i, _) -> i <= index)
    |> Seq.map (fun struct (_, text) -> text)
    |> String.concat ","
    |> Encoding.UTF8.GetBytes

/// One node: its options, its live state (None while crashed), effects awaiting the host, and its disk.
type Slot =
    {
        Id: NodeId
        Options: RaftOptions
        mutable State: State<string> option
        /// Effects returned by the core that the host has not carried out yet, in order.
        Pending: ResizeArray<Effect<string>>
        Disk: Disk
    }

/// The harness state.
type World =
    {
        Slots: SortedDictionary<int64, Slot>
        /// Sent, not yet delivered, in sending order.
        Network: ResizeArray<Message<string>>
        /// Group of each node while partitioned (nodes not listed share group 0).
        mutable Partition: Map<NodeId, int> option
        mutable NextTag: int64
        /// Term of every index any node applied: state machine safety is checked on every Apply.
        AppliedTerms: Dictionary<int64, int64>
        Out: StringBuilder
    }

let create () =
    {
        Slots = SortedDictionary()
        Network = ResizeArray()
        Partition = None
        NextTag = 1L
        AppliedTerms = Dictionary()
        Out = StringBuilder()
    }

/// Appends an output line at the given indentation (two spaces per level).
let print (w: World) (indent: int) (text: string) =
    w.Out.Append(String(' ', 2 * indent)).Append(text).Append('\n') |> ignore

let nodeId (text: string) : NodeId =
    match Int64.TryParse text with
    | true, v when v > 0L -> Ids.node v
    | _ -> usage "not a node id: '%s'" text

let slot (w: World) (id: NodeId) =
    match w.Slots.TryGetValue(int64 id) with
    | true, s -> s
    | _ -> usage "no node %d" (int64 id)

let live (w: World) (id: NodeId) =
    let s = slot w id

    match s.State with
    | Some st -> s, st
    | None -> usage "node %d is down" (int64 id)

let liveSlots (w: World) = w.Slots.Values |> Seq.filter (fun s -> s.State.IsSome) |> List.ofSeq

/// Feeds one input to a node: informational effects are printed at `indent`, the rest queue for the host.
let step (w: World) (s: Slot) (indent: int) (input: Input<string>) =
    match s.State with
    | None -> usage "node %d is down" (int64 s.Id)
    | Some st ->
        let st', effects = Node.step st input
        s.State <- Some st'

        for e in effects do
            if Format.isInformational e then print w indent (Format.info e) else s.Pending.Add e

/// True when the message crosses the partition.
let partitioned (w: World) (m: Message<string>) =
    match w.Partition with
    | None -> false
    | Some groups ->
        let group id = Map.tryFind id groups |> Option.defaultValue 0
        group m.From <> group m.To

/// Selects network messages; `toNodes` empty means any recipient.
type Selector =
    {
        To: Set<NodeId>
        From: NodeId option
        Kind: string option
        /// At most this many (the oldest).
        Count: int
    }

let kindOf (m: Message<string>) = (Format.message m).Split(' ')[1]

let selects (sel: Selector) (m: Message<string>) =
    (sel.To.IsEmpty || sel.To.Contains m.To)
    && (sel.From |> Option.forall ((=) m.From))
    && (sel.Kind |> Option.forall ((=) (kindOf m)))

/// Removes and returns the selected messages, oldest first.
let takeMessages (w: World) (sel: Selector) =
    let taken = w.Network |> Seq.filter (selects sel) |> Seq.truncate sel.Count |> List.ofSeq
    let chosen = HashSet(taken |> Seq.map (fun m -> box m), HashIdentity.Reference)
    w.Network.RemoveAll(fun m -> chosen.Contains(box m)) |> ignore
    taken

/// Delivers (or drops) the selected messages, grouped by recipient in id order, each group in sending order.
/// Messages to a crashed node or across the partition are dropped. Returns whether anything was taken.
let deliver (w: World) (sel: Selector) (drop: Set<NodeId>) =
    let taken = takeMessages w sel

    for recipient, msgs in taken |> List.groupBy (fun m -> m.To) |> List.sortBy (fst >> int64) do
        let target = w.Slots.TryGetValue(int64 recipient) |> function | true, s -> Some s | _ -> None

        if drop.Contains recipient then
            for m in msgs do
                print w 0 ("dropped: " + Format.message m)
        else
            print w 0 $"> {int64 recipient} receiving messages"

            for m in msgs do
                match target with
                | Some t when t.State.IsSome && not (partitioned w m) ->
                    print w 1 (Format.message m)
                    step w t 2 (Receive m)
                | Some t when t.State.IsSome -> print w 1 ("dropped (partition): " + Format.message m)
                | _ -> print w 1 ("dropped (node down): " + Format.message m)

    not taken.IsEmpty

/// Which effect kinds the host carries out now; the others stay queued, in order.
type EffectFilter = { Persist: bool; Apply: bool; Load: bool; Send: bool }

let allEffects = { Persist = true; Apply = true; Load = true; Send = true }

let private wanted (f: EffectFilter) (e: Effect<string>) =
    match e with
    | Persist _
    // Deleting a partial snapshot is a disk operation, in order with the writes of its chunks.
    | AbandonSnapshot _ -> f.Persist
    | Apply _ -> f.Apply
    | LoadEntries _ -> f.Load
    | Send _ -> f.Send
    | _ -> true

/// Writes a Persist's hard state and entries to the node's disk (truncating at the first new entry).
let writeDisk (s: Slot) (p: PersistRequest<string>) =
    p.HardState |> ValueOption.iter (fun h -> s.Disk.Hard <- h)

    if p.Entries.Length > 0 then
        let first = int64 p.Entries[0].Index
        let d = s.Disk

        if first <= d.Offset || first > diskLastIndex d + 1L then
            failwithf "node %d: persisting from index %d does not fit the disk (entries (%d, %d])" (int64 s.Id) first d.Offset (diskLastIndex d)

        let keep = int (first - d.Offset - 1L)
        d.Entries.RemoveRange(keep, d.Entries.Count - keep)
        d.Entries.AddRange p.Entries

/// Writes a received snapshot chunk at its offset into the partial file of its (index, term) (offset 0
/// starts it anew; a partial snapshot of another one must have been abandoned first); on the last chunk the
/// snapshot replaces the log and the state machine is restored.
/// Returns a description of what happened.
let private writeSnapshotChunk (s: Slot) (c: SnapshotChunk) =
    let d = s.Disk
    let key = struct (int64 c.Meta.Index, int64 c.Meta.Term)

    let buffer =
        match d.Partial with
        | Some(k, b) when k = key && c.Offset > 0L -> b
        | Some(k, _) when k = key -> ResizeArray<byte>()
        | Some(struct (index, term), _) ->
            // The core abandons a transfer (AbandonSnapshot) before it writes a chunk of another.
            failwithf "node %d: snapshot chunk of %s while the partial snapshot %d/%d was never abandoned" (int64 s.Id) (Format.snapshotMeta c.Meta) term index
        | None -> ResizeArray<byte>()

    if c.Offset > int64 buffer.Count then
        failwithf "node %d: snapshot chunk at offset %d leaves a gap after %d bytes" (int64 s.Id) c.Offset buffer.Count

    // A write at an offset overwrites what is there and extends the file.
    let overlap = min c.Data.Length (buffer.Count - int c.Offset)
    for i in 0 .. overlap - 1 do
        buffer[int c.Offset + i] <- c.Data[i]
    buffer.AddRange(Array.sub c.Data overlap (c.Data.Length - overlap))

    if not c.Done then
        d.Partial <- Some(key, buffer)
        d.PartialOf <- Some(c.Meta, c.TransferId)
        None
    else
        d.Partial <- None
        d.PartialOf <- None
        let bytes = buffer.ToArray()
        d.Snapshots[key] <- (c.Meta, bytes)
        d.Entries.Clear()
        d.Offset <- int64 c.Meta.Index
        d.Applied <- c.Meta.Index
        d.StateMachine.Clear()
        let text = Encoding.UTF8.GetString bytes

        if text <> "" then
            for item in text.Split(',') do
                d.StateMachine.Add(struct (int64 c.Meta.Index, item))

        Some $"installed snapshot {Format.snapshotMeta c.Meta}: log empty after {int64 c.Meta.Index}, state machine restored to {Format.quote text}"

/// Applies entries to the node's state machine, checking order and agreement with every other node.
let private applyEntries (w: World) (s: Slot) (entries: Entry<string>[]) =
    for e in entries do
        if e.Index <> s.Disk.Applied + 1L<index> then
            failwithf "node %d: applying index %d after %d (out of order)" (int64 s.Id) (int64 e.Index) (int64 s.Disk.Applied)

        match w.AppliedTerms.TryGetValue(int64 e.Index) with
        | true, t when t <> int64 e.Term ->
            failwithf "state machine safety: node %d applies %s where another node applied term %d" (int64 s.Id) (Format.entry e) t
        | _ -> w.AppliedTerms[int64 e.Index] <- int64 e.Term

        s.Disk.Applied <- e.Index

        match e.Payload with
        | Command text -> s.Disk.StateMachine.Add(struct (int64 e.Index, text))
        | _ -> ()

/// The durable entries [from, upTo] (as many as the disk holds); ValueNone when `from` was compacted.
let readDisk (s: Slot) (from: Index) (upTo: Index) =
    let d = s.Disk

    if int64 from <= d.Offset then
        ValueNone
    else
        let first = int64 from
        let last = min (int64 upTo) (diskLastIndex d)

        if last < first then ValueSome [||]
        else ValueSome(d.Entries.GetRange(int (first - d.Offset - 1L), int (last - first + 1L)).ToArray())

/// Carries out the node's queued effects (those the filter allows) until none is left, printing each.
/// Completions (Persisted, Applied, EntriesLoaded) are fed back at once; their effects are handled in turn.
/// Returns whether anything was done.
let processEffects (w: World) (s: Slot) (filter: EffectFilter) =
    if s.State.IsNone || not (s.Pending |> Seq.exists (wanted filter)) then
        false
    else
        print w 0 $"> {int64 s.Id} handling effects"
        let mutable i = 0

        while i < s.Pending.Count do
            let e = s.Pending[i]

            if not (wanted filter e) then
                i <- i + 1
            else
                s.Pending.RemoveAt i

                match e with
                | Persist p ->
                    let parts =
                        [
                            match p.HardState with
                            | ValueSome h -> "HardState:{" + Format.hardState (h.Config <> s.Disk.Hard.Config) h + "}"
                            | ValueNone -> ()
                            if p.Entries.Length > 0 then "Entries:" + Format.entries p.Entries
                            match p.Snapshot with
                            | ValueSome c -> Format.chunk c
                            | ValueNone -> ()
                        ]

                    print w 1 ("Persist " + (if parts.IsEmpty then "(nothing new)" else String.concat " " parts))
                    writeDisk s p

                    match p.Snapshot with
                    | ValueSome c ->
                        match writeSnapshotChunk s c with
                        | Some installed ->
                            print w 2 installed
                            // The state machine now holds the snapshot: reads may be served from it.
                            step w s 2 (Applied c.Meta.Index)
                        | None -> ()
                    | ValueNone -> ()

                    for m in p.ThenSend do
                        print w 2 ("then " + Format.message m)
                        w.Network.Add m

                    if p.Entries.Length > 0 then
                        let last = p.Entries[p.Entries.Length - 1]
                        step w s 2 (Persisted { Index = last.Index; Term = last.Term })
                | Send m ->
                    print w 1 (Format.message m)
                    w.Network.Add m
                | Apply entries ->
                    print w 1 ("Apply " + (entries |> Seq.map Format.entry |> String.concat ", "))
                    applyEntries w s entries
                    step w s 2 (Applied entries[entries.Length - 1].Index)
                | LoadEntries(purpose, from, upTo) ->
                    match readDisk s from upTo with
                    | ValueSome loaded ->
                        print w 1 $"LoadEntries {Format.loadPurpose purpose} [{int64 from}, {int64 upTo}] -> {loaded.Length} entries from disk"
                        step w s 2 (EntriesLoaded { Purpose = purpose; Entries = loaded; Compacted = false })
                    | ValueNone ->
                        print w 1 $"LoadEntries {Format.loadPurpose purpose} [{int64 from}, {int64 upTo}] -> compacted"
                        step w s 2 (EntriesLoaded { Purpose = purpose; Entries = [||]; Compacted = true })
                | SaveSnapshot meta ->
                    let index = int64 meta.Index

                    if index > int64 s.Disk.Applied then
                        failwithf "node %d: SaveSnapshot at %d but the state machine applied only %d" (int64 s.Id) index (int64 s.Disk.Applied)

                    let bytes = stateMachineBytes s.Disk index
                    s.Disk.Snapshots[struct (index, int64 meta.Term)] <- (meta, bytes)
                    print w 1 $"SaveSnapshot {Format.snapshotMeta meta} -> {bytes.Length} bytes {Format.quote (Encoding.UTF8.GetString bytes)}"
                    step w s 2 (SnapshotSaved meta)
                | AbandonSnapshot meta ->
                    let d = s.Disk

                    match d.Partial with
                    | Some(key, bytes) when key = struct (int64 meta.Index, int64 meta.Term) ->
                        d.Partial <- None
                        d.PartialOf <- None
                        print w 1 $"AbandonSnapshot {Format.snapshotMeta meta} -> partial snapshot deleted ({bytes.Count} bytes)"
                    | Some(struct (index, term), _) ->
                        failwithf "node %d: AbandonSnapshot %s while the partial snapshot is %d/%d" (int64 s.Id) (Format.snapshotMeta meta) term index
                    | None -> failwithf "node %d: AbandonSnapshot %s without a partial snapshot" (int64 s.Id) (Format.snapshotMeta meta)
                | CompactLog upTo ->
                    let d = s.Disk
                    let n = int (min (int64 upTo) (diskLastIndex d) - d.Offset)

                    if n > 0 then
                        d.Entries.RemoveRange(0, n)
                        d.Offset <- d.Offset + int64 n

                    print w 1 $"CompactLog {int64 upTo} -> disk entries ({d.Offset}, {diskLastIndex d}]"
                | ReadSnapshotChunk(target, meta, transferId, offset, maxBytes) ->
                    match s.Disk.Snapshots.TryGetValue(struct (int64 meta.Index, int64 meta.Term)) with
                    | true, (_, bytes) ->
                        let length = int (max 0L (min (int64 maxBytes) (int64 bytes.Length - offset)))
                        let data = Array.sub bytes (int offset) length
                        let fin = offset + int64 length >= int64 bytes.Length
                        let doneText = if fin then " Done" else ""
                        print w 1 $"ReadSnapshotChunk To:{int64 target} Snapshot:{Format.snapshotMeta meta} Transfer:{transferId} Offset:{offset} -> {length} bytes{doneText}"
                        step w s 2 (SnapshotChunkLoaded(target, { Meta = meta; TransferId = transferId; Offset = offset; Data = data; Done = fin }))
                    | _ -> failwithf "node %d: ReadSnapshotChunk of snapshot %s the disk does not hold" (int64 s.Id) (Format.snapshotMeta meta)
                | other -> print w 1 $"(not supported by the harness, ignored) %A{other}"

        true

/// Argument helpers for handlers.
module Args =
    open Parser

    /// Fails on any option not in `allowed` (a typo must not silently be ignored).
    let only (allowed: string list) (c: Command) =
        for KeyValue(k, _) in c.Options do
            if not (List.contains k allowed) then
                usage "%s: unknown option %s= (allowed: %s)" c.Name k (String.concat ", " allowed)

    let bool (c: Command) (key: string) (fallback: bool) =
        match Map.tryFind key c.Options with
        | None -> fallback
        | Some "true" -> true
        | Some "false" -> false
        | Some v -> usage "%s: %s=%s is not true/false" c.Name key v

    let int64 (c: Command) (key: string) (fallback: int64) =
        match Map.tryFind key c.Options with
        | None -> fallback
        | Some v ->
            match Int64.TryParse v with
            | true, n -> n
            | _ -> usage "%s: %s=%s is not a number" c.Name key v

    let int (c: Command) (key: string) (fallback: int) = int (int64 c key (Operators.int64 fallback))

    /// A node list written `1,2,3` or `(1,2,3)`.
    let nodes (text: string) =
        text.Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries) |> Array.map nodeId |> Set.ofArray

    /// The positional arguments as node ids.
    let nodeArgs (c: Command) = c.Args |> List.map nodeId

    /// Exactly one positional node argument.
    let oneNode (c: Command) =
        match c.Args with
        | [ n ] -> nodeId n
        | _ -> usage "%s: expected one node id, got %A" c.Name c.Args
