/// transfer-leader: leadership transfer (thesis §3.10) asked of a node.
module Raft.Core.Tests.Transcript.TransferCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// `transfer-leader N target`: the TransferLeadership input. A refusal or an abort prints TransferDropped.
let transferLeader (w: World) (c: Command) =
    Args.only [] c

    match c.Args with
    | [ n; target ] ->
        let s, _ = live w (nodeId n)
        step w s 0 (TransferLeadership(nodeId target))
        if w.Out.Length = 0 then print w 0 "ok"
    | _ -> usage "transfer-leader: expected a node and a target"
