/// campaign and propose: what a client or an operator asks of a node.
module Raft.Core.Tests.Transcript.RequestCommands

open System.Text
open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// `campaign N`: the Campaign input (a pre-election when PreVote is on).
let campaign (w: World) (c: Command) =
    Args.only [] c
    let s, _ = live w (Args.oneNode c)
    step w s 0 Campaign
    if w.Out.Length = 0 then print w 0 "ok"

/// `propose N data...`: one proposal carrying every data word as a command (a batch); each command's size is
/// its UTF-8 length. Prints ProposalAccepted or ProposalDropped.
let propose (w: World) (c: Command) =
    Args.only [] c

    match c.Args with
    | n :: (_ :: _ as data) ->
        let s, _ = live w (nodeId n)
        let tag = w.NextTag
        w.NextTag <- tag + 1L
        let commands = data |> List.map (fun d -> struct (d, Encoding.UTF8.GetByteCount d)) |> Array.ofList
        step w s 0 (Propose { Tag = tag; Commands = commands })
        if w.Out.Length = 0 then print w 0 "ok"
    | _ -> usage "propose: expected a node and at least one data word"
