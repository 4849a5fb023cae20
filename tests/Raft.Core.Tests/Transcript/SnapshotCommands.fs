/// snapshot: a snapshot the host takes on its own (the core also asks for them by threshold, SaveSnapshot).
module Raft.Core.Tests.Transcript.SnapshotCommands

open System.Text
open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// `snapshot N`: the host writes a snapshot of the state machine at the node's applied index (with the
/// configuration in effect there) and feeds SnapshotSaved; the CompactLog that follows stays queued.
let snapshot (w: World) (c: Command) =
    Args.only [] c
    let s, st = live w (Args.oneNode c)
    let applied = Node.appliedIndex st
    if applied <> s.Disk.Applied then usage "snapshot: node %d has applies pending" (int64 s.Id)

    let term =
        match Node.termAt st applied with
        | ValueSome t -> t
        | ValueNone -> usage "snapshot: node %d has no term for its applied index %d" (int64 s.Id) (int64 applied)

    let config =
        let cs = st.Config

        if applied >= cs.CurrentIndex then { cs with Previous = cs.Current; PreviousIndex = cs.CurrentIndex }
        elif applied >= cs.PreviousIndex then { cs with Current = cs.Previous; CurrentIndex = cs.PreviousIndex }
        else usage "snapshot: node %d does not know the configuration at %d" (int64 s.Id) (int64 applied)

    let meta = { Index = applied; Term = term; Config = config }
    let bytes = stateMachineBytes s.Disk (int64 applied)
    s.Disk.Snapshots[struct (int64 applied, int64 term)] <- (meta, bytes)
    print w 0 $"snapshot {Format.snapshotMeta meta} -> {bytes.Length} bytes {Format.quote (Encoding.UTF8.GetString bytes)}"
    step w s 1 (SnapshotSaved meta)
