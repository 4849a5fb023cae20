/// conf-change: membership changes (thesis §4) proposed to a node.
module Raft.Core.Tests.Transcript.ConfChangeCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// Parses `add-voter 4 add-learner 5 remove 2 ...` into changes.
let private changes (words: string list) =
    let rec loop acc words =
        match words with
        | [] -> List.rev acc
        | "add-voter" :: n :: rest -> loop (AddVoter(nodeId n) :: acc) rest
        | "add-learner" :: n :: rest -> loop (AddLearner(nodeId n) :: acc) rest
        | "remove" :: n :: rest -> loop (RemoveNode(nodeId n) :: acc) rest
        | w :: _ -> usage "conf-change: expected add-voter N, add-learner N or remove N at '%s'" w

    loop [] words

/// Parses the change part of a conf-change command.
let parseChange (words: string list) =
    match words with
    | [ "leave-joint" ] -> LeaveJoint
    | "enter-joint" :: "auto" :: rest -> EnterJoint(changes rest, true)
    | "enter-joint" :: rest -> EnterJoint(changes rest, false)
    | "simple" :: rest
    | rest ->
        match changes rest with
        | [ one ] -> Simple one
        | _ -> usage "conf-change: a simple change is exactly one of add-voter N, add-learner N, remove N"

/// `conf-change N tag (simple add-voter 4 | simple add-learner 4 | simple remove 2 | enter-joint [auto]
/// add-voter 4 remove 1 ... | leave-joint)`: the ProposeConfChange input. Prints ProposalAccepted or
/// ProposalDropped with the reason.
let confChange (w: World) (c: Command) =
    Args.only [] c

    match c.Args with
    | n :: tag :: (_ :: _ as words) ->
        let s, _ = live w (nodeId n)

        let tag =
            match System.Int64.TryParse tag with
            | true, t -> t
            | _ -> usage "conf-change: tag '%s' is not a number" tag

        step w s 0 (ProposeConfChange(tag, parseChange words))
        if w.Out.Length = 0 then print w 0 "ok"
    | _ -> usage "conf-change: expected a node, a tag and a change"
