/// read-index: linearizable reads (thesis §6.4) asked of a node.
module Raft.Core.Tests.Transcript.ReadCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// `read-index N tag`: the ReadIndex input with the host's tag. A leader registers the read (or holds it until
/// its first commit in its term); a follower forwards it to its leader. ReadReady / ReadDropped print where
/// they happen.
let readIndex (w: World) (c: Command) =
    Args.only [] c

    match c.Args with
    | [ n; tag ] ->
        let s, _ = live w (nodeId n)

        match System.Int64.TryParse tag with
        | true, t -> step w s 0 (Input.ReadIndex t)
        | _ -> usage "read-index: tag '%s' is not a number" tag

        if w.Out.Length = 0 then print w 0 "ok"
    | _ -> usage "read-index: expected a node and a tag"
