/// raft-state, raft-log, raft-disk: looking at nodes without changing them.
module Raft.Core.Tests.Transcript.InspectCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// `raft-state`: one line per node: role, term, vote, leader, and the log marks.
let raftState (w: World) (c: Command) =
    Args.only [] c

    for s in w.Slots.Values do
        match s.State with
        | None -> print w 0 $"{int64 s.Id}: down"
        | Some st ->
            let role = Format.roleKind (Node.role st)

            print
                w
                0
                $"{int64 s.Id}: {role} Term:{int64 st.Term} Vote:{int64 st.Vote} Lead:{int64 st.Leader} Last:{int64 (Node.lastIndex st)} Stable:{int64 (Node.stableIndex st)} Commit:{int64 (Node.commitIndex st)} Applied:{int64 (Node.appliedIndex st)}"

/// `raft-log N`: the node's log as it sees it; entries whose payload left the in-memory window are shown
/// by position only.
let raftLog (w: World) (c: Command) =
    Args.only [] c
    let _, st = live w (Args.oneNode c)
    let first = Node.firstIndex st
    let last = Node.lastIndex st

    if st.Log.SnapIndex > 0L<index> then
        print w 0 $"snapshot {Format.pos st.Log.SnapTerm st.Log.SnapIndex}"

    if last < first then
        print w 0 "log is empty"
    else
        for i in int64 first .. int64 last do
            let i = Ids.index i

            if RaftLog.hasPayload st.Log i then
                print w 0 (Format.entry (EntryWindow.get st.Log.Window i))
            else
                match Node.termAt st i with
                | ValueSome t -> print w 0 $"{Format.pos t i} (payload not in memory)"
                | ValueNone -> failwithf "raft-log: no term for index %d" (int64 i)

/// `raft-disk N`: what survives a crash: durable hard state, entries and the state machine's applied index.
let raftDisk (w: World) (c: Command) =
    Args.only [] c
    let s = slot w (Args.oneNode c)
    print w 0 $"HardState:{{{Format.hardState false s.Disk.Hard}}} Applied:{int64 s.Disk.Applied}"

    match latestSnapshot s.Disk with
    | Some(meta, bytes) ->
        print w 0 $"Snapshot:{Format.snapshotMeta meta} {Format.membership meta.Config.Current} Data:{Format.quote (System.Text.Encoding.UTF8.GetString bytes)}"
    | None -> ()

    match s.Disk.Partial with
    | Some(struct (index, term), bytes) -> print w 0 $"Partial snapshot:{term}/{index} {bytes.Count} bytes"
    | None -> ()

    if s.Disk.Entries.Count = 0 then print w 0 (if s.Disk.Offset > 0L then $"no entries after {s.Disk.Offset}" else "no entries")

    for e in s.Disk.Entries do
        print w 0 (Format.entry e)

/// `state-machine N`: the node's applied index and the commands its state machine holds.
let stateMachine (w: World) (c: Command) =
    Args.only [] c
    let s = slot w (Args.oneNode c)
    let items = s.Disk.StateMachine |> Seq.map (fun struct (_, t) -> t) |> String.concat ","
    print w 0 $"Applied:{int64 s.Disk.Applied} Data:{Format.quote items}"

/// `raft-config`: the configuration every live node has in effect (and the index that established it).
let raftConfig (w: World) (c: Command) =
    Args.only [] c

    for s in w.Slots.Values do
        match s.State with
        | None -> print w 0 $"{int64 s.Id}: down"
        | Some st -> print w 0 $"{int64 s.Id}: {Format.membership st.Config.Current} (index {int64 st.Config.CurrentIndex})"

let private progressMode (p: Progress) =
    match p.Mode with
    | Probe -> if p.ProbeSent then "Probe (paused)" else "Probe"
    | Replicate -> $"Replicate Inflights:{p.Inflights.Count}"
    | SnapshotTransfer(id, meta, offset) -> $"Snapshot:{Format.snapshotMeta meta} Transfer:{id} NextOffset:{offset}"

/// `raft-progress N`: the leader's progress of every peer (mode, match, next), and a transfer in progress.
let raftProgress (w: World) (c: Command) =
    Args.only [] c
    let _, st = live w (Args.oneNode c)

    match st.Role with
    | Leader l ->
        for KeyValue(peer, p) in l.Progress do
            print w 0 $"{int64 peer}: {progressMode p} Match:{int64 p.Match} Next:{int64 p.Next}"

        match l.Transfer with
        | ValueSome t -> print w 0 $"transferring to {int64 t.Target} (elapsed {t.Elapsed})"
        | ValueNone -> ()
    | _ -> print w 0 "not a leader"
