/// process-effects and stabilize: the host carrying out what the core asked for.
module Raft.Core.Tests.Transcript.EffectCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

let private targets (w: World) (c: Command) =
    match Args.nodeArgs c with
    | [] -> liveSlots w
    | ids -> ids |> List.map (fun id -> slot w id) |> List.filter (fun s -> s.State.IsSome)

/// `process-effects [N...] [persist=false] [apply=false] [load=false] [send=false]`: each node (all by default)
/// carries out its queued effects: Persist writes its disk, then sends ThenSend and feeds Persisted; Send puts
/// the message on the network; Apply applies and feeds Applied; LoadEntries reads its disk and feeds
/// EntriesLoaded. A kind turned off stays queued (a slow disk, a paused state machine).
let processEffectsCommand (w: World) (c: Command) =
    Args.only [ "persist"; "apply"; "load"; "send" ] c

    let filter =
        {
            Persist = Args.bool c "persist" true
            Apply = Args.bool c "apply" true
            Load = Args.bool c "load" true
            Send = Args.bool c "send" true
        }

    let mutable any = false

    for s in targets w c do
        if processEffects w s filter then any <- true

    if not any then print w 0 "no effects"

/// `stabilize [N...]`: repeats "every node carries out its effects, then every node receives its messages"
/// until nothing is left, printing everything.
let stabilize (w: World) (c: Command) =
    Args.only [] c
    let restrict = Args.nodeArgs c |> Set.ofList
    let chosen (id: NodeId) = restrict.IsEmpty || restrict.Contains id
    let mutable progressed = true
    let mutable rounds = 0

    while progressed do
        rounds <- rounds + 1
        if rounds > 1000 then failwith "stabilize: no quiescence after 1000 rounds"
        progressed <- false

        for s in List.ofSeq w.Slots.Values do
            if chosen s.Id && processEffects w s allEffects then progressed <- true

        for id in List.ofSeq w.Slots.Keys do
            let id = Ids.node id

            if chosen id && deliver w { To = Set.singleton id; From = None; Kind = None; Count = System.Int32.MaxValue } Set.empty then
                progressed <- true

    if w.Out.Length = 0 then print w 0 "ok"
