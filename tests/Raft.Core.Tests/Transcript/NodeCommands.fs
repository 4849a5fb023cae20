/// add-nodes, crash, restart: creating nodes and losing what a crash loses.
module Raft.Core.Tests.Transcript.NodeCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

let private optionKeys =
    [ "prevote"; "checkquorum"; "election"; "heartbeat"; "broadcast-commit"; "max-inflight"; "max-inflight-bytes"; "max-uncommitted"
      "max-size-per-msg"; "window"; "seed"; "lease"; "lease-drift"; "snapshot-entries"; "snapshot-bytes"
      "compaction-trailing"; "snapshot-chunk"; "learner-lag"; "auto-promote" ]

let private options (c: Command) (id: NodeId) =
    let d = RaftOptions.defaults id

    { d with
        PreVote = Args.bool c "prevote" d.PreVote
        CheckQuorum = Args.bool c "checkquorum" d.CheckQuorum
        ElectionTicks = Args.int c "election" d.ElectionTicks
        // The transcripts were written with a heartbeat every tick, as etcd's interaction tests run.
        HeartbeatTicks = Args.int c "heartbeat" 1
        // The message-by-message transcripts were written with the commit index broadcast as soon as it moves
        // (etcd's behaviour); commit_propagation.txt covers the core's default (broadcast-commit=false).
        BroadcastCommit = Args.bool c "broadcast-commit" true
        MaxInflightMsgs = Args.int c "max-inflight" d.MaxInflightMsgs
        MaxInflightBytes = Args.int64 c "max-inflight-bytes" d.MaxInflightBytes
        MaxUncommittedBytes = Args.int64 c "max-uncommitted" d.MaxUncommittedBytes
        MaxSizePerMsg = Args.int64 c "max-size-per-msg" d.MaxSizePerMsg
        MaxWindowEntries = Args.int c "window" d.MaxWindowEntries
        Seed = uint64 (Args.int64 c "seed" (int64 d.Seed))
        ReadMode = if Args.bool c "lease" false then LeaseBased else ReadIndexQuorum
        LeaseDriftTicks = Args.int c "lease-drift" d.LeaseDriftTicks
        SnapshotEntries = Args.int64 c "snapshot-entries" d.SnapshotEntries
        SnapshotLogBytes = Args.int64 c "snapshot-bytes" d.SnapshotLogBytes
        CompactionTrailing = Args.int64 c "compaction-trailing" d.CompactionTrailing
        SnapshotChunkBytes = Args.int c "snapshot-chunk" d.SnapshotChunkBytes
        LearnerCatchUpLag = Args.int64 c "learner-lag" d.LearnerCatchUpLag
        AutoPromoteLearners = Args.bool c "auto-promote" d.AutoPromoteLearners }

/// `add-nodes N [options]`: adds N nodes, numbered after the existing ones, as the voters of a new cluster
/// (voters default to every node added so far, or `voters=1,2,3`).
let addNodes (w: World) (c: Command) =
    Args.only ("voters" :: optionKeys) c

    let n =
        match c.Args with
        | [ n ] -> int n
        | _ -> usage "add-nodes: expected a count"

    let first = int64 w.Slots.Count + 1L
    let ids = [ first .. first + int64 n - 1L ] |> List.map Ids.node

    let voters =
        match Map.tryFind "voters" c.Options with
        | Some v -> Args.nodes v
        | None -> Set.ofSeq (Seq.append (w.Slots.Keys |> Seq.map Ids.node) ids)

    for id in ids do
        let o = options c id

        match Node.bootstrap o voters with
        | Error e -> usage "add-nodes: %s" e
        | Ok st ->
            w.Slots.Add(
                int64 id,
                {
                    Id = id
                    Options = o
                    State = Some st
                    Pending = ResizeArray()
                    Disk = emptyDisk (Node.hardState st)
                }
            )

    let outsiders = ids |> List.filter (fun id -> not (voters.Contains id))
    let note = if outsiders.IsEmpty then "" else $" (not members: {Format.nodeSet outsiders} start with an empty log)"
    print w 0 $"added {Format.nodeSet ids} voters={Format.nodeSet voters}{note}"

/// `crash N [torn=K]`: the node stops; queued effects (unwritten Persists, unsent messages) and messages addressed to
/// it are lost. Its disk survives. With `torn=K` the oldest queued Persist was in progress: its first K entries
/// reached the disk and its hard state did not (a host writes the hard state after the entries it describes).
let crash (w: World) (c: Command) =
    Args.only [ "torn" ] c
    let s, _ = live w (Args.oneNode c)
    let torn = Args.int c "torn" -1

    if torn >= 0 then
        match s.Pending |> Seq.tryPick (function Persist p -> Some p | _ -> None) with
        | Some p when torn <= p.Entries.Length ->
            let kept = Array.sub p.Entries 0 torn
            writeDisk s { p with HardState = ValueNone; Entries = kept; Snapshot = ValueNone }
            print w 0 $"torn: Entries:{Format.entries kept} reached the disk"
        | Some p -> usage "crash: torn=%d but the write in progress has %d entries" torn p.Entries.Length
        | None -> usage "crash: torn= needs a queued Persist"

    for e in s.Pending do
        print w 0 ("lost: " + Format.effect e)

    s.Pending.Clear()
    s.State <- None

    for m in takeMessages w { To = Set.singleton s.Id; From = None; Kind = None; Count = System.Int32.MaxValue } do
        print w 0 ("lost: " + Format.message m)

    print w 0 $"{int64 s.Id} crashed"

/// Terms of the durable log as runs of (first index, term).
let private runs (entries: Entry<string> seq) =
    entries
    |> Seq.fold
        (fun acc (e: Entry<string>) ->
            match acc with
            | struct (_, t) :: _ when t = e.Term -> acc
            | _ -> struct (e.Index, e.Term) :: acc)
        []
    |> List.rev
    |> Array.ofList

/// `restart N`: the node comes back with `Node.restore` from its disk; the newest `window` entries are handed
/// back as the in-memory tail, older ones are loaded on demand.
let restart (w: World) (c: Command) =
    Args.only [] c
    let s = slot w (Args.oneNode c)
    if s.State.IsSome then usage "restart: node %d is running" (int64 s.Id)
    let disk = s.Disk
    let last = diskLastIndex disk
    let tailLength = min disk.Entries.Count s.Options.MaxWindowEntries
    let snapshot = latestSnapshot disk

    let info =
        {
            HardState = disk.Hard
            Snapshot = match snapshot with Some(meta, _) -> ValueSome meta | None -> ValueNone
            LastIndex = Ids.index last
            TermRuns = runs disk.Entries
            Tail = disk.Entries.GetRange(disk.Entries.Count - tailLength, tailLength).ToArray()
            Configs =
                disk.Entries
                |> Seq.filter (fun e -> match snapshot with Some(meta, _) -> e.Index > meta.Index | None -> true)
                |> Node.configEntries
            Applied = disk.Applied
            Receiving =
                match disk.Partial, disk.PartialOf with
                | Some(_, bytes), Some(meta, transferId) -> ValueSome { TransferId = transferId; Meta = meta; NextOffset = int64 bytes.Count }
                | _ -> ValueNone
        }

    match Node.restore s.Options info with
    | Error e -> failwithf "restart %d: Node.restore refused the disk: %s" (int64 s.Id) e
    | Ok st ->
        s.State <- Some st

        // A partial snapshot the restarted core did not adopt (the log commits past it) is the host's to delete.
        if st.Incoming.IsNone && disk.Partial.IsSome then
            disk.Partial <- None
            disk.PartialOf <- None
        let snap = match snapshot with Some(meta, _) -> " Snapshot:" + Format.snapshotMeta meta | None -> ""

        print
            w
            0
            $"{int64 s.Id} restarted: HardState:{{{Format.hardState false disk.Hard}}}{snap} LastIndex:{last} Applied:{int64 disk.Applied}"
