/// tick, tick-heartbeat, tick-election: logical time, one node at a time.
module Raft.Core.Tests.Transcript.TimeCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

let private tickTimes (w: World) (s: Slot) (n: int) =
    for _ in 1..n do
        step w s 0 Tick

    if w.Out.Length = 0 then print w 0 "ok"

/// `tick N [count]`: `count` ticks (default 1).
let tick (w: World) (c: Command) =
    Args.only [] c

    match c.Args with
    | [ n ] -> tickTimes w (fst (live w (nodeId n))) 1
    | [ n; count ] -> tickTimes w (fst (live w (nodeId n))) (int count)
    | _ -> usage "tick: expected a node and an optional count"

/// `tick-heartbeat N`: HeartbeatTicks ticks.
let tickHeartbeat (w: World) (c: Command) =
    Args.only [] c
    let s, _ = live w (Args.oneNode c)
    tickTimes w s s.Options.HeartbeatTicks

/// `tick-election N`: exactly the ticks that make the node's current election timer fire: its randomized
/// timeout for a follower or candidate, the CheckQuorum round (ElectionTicks) for a leader.
let tickElection (w: World) (c: Command) =
    Args.only [] c
    let s, st = live w (Args.oneNode c)

    let timeout =
        match st.Role with
        | Leader _ -> st.Options.ElectionTicks
        | _ -> st.RandomizedTimeout

    tickTimes w s (max 1 (timeout - st.ElectionElapsed))
