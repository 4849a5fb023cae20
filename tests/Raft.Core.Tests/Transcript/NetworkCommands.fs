/// deliver-msgs, drop-msgs, partition, heal: the network between nodes.
module Raft.Core.Tests.Transcript.NetworkCommands

open Raft.Core
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

let private selector (c: Command) =
    {
        To = Args.nodeArgs c |> Set.ofList
        From = Map.tryFind "from" c.Options |> Option.map nodeId
        Kind = Map.tryFind "type" c.Options
        Count = System.Int32.MaxValue
    }

/// `deliver-msgs [N...] [from=N] [type=MsgApp] [count=K] [drop=N,M]`: delivers the selected messages (to N...,
/// from N, of one type, only the oldest K; all by default); those addressed to a node in `drop` are dropped.
let deliverMsgs (w: World) (c: Command) =
    Args.only [ "from"; "type"; "drop"; "count" ] c
    let drop = Map.tryFind "drop" c.Options |> Option.map Args.nodes |> Option.defaultValue Set.empty
    let sel = selector c
    let sel = { sel with Count = Args.int c "count" System.Int32.MaxValue }
    if not (deliver w sel drop) then print w 0 "no messages"

/// `drop-msgs [N...] [from=N] [type=MsgApp]`: drops the selected messages.
let dropMsgs (w: World) (c: Command) =
    Args.only [ "from"; "type" ] c

    match takeMessages w (selector c) with
    | [] -> print w 0 "no messages"
    | msgs ->
        for m in msgs do
            print w 0 ("dropped: " + Format.message m)

/// `partition 1 2,3`: each argument is a group of nodes; messages between groups are dropped on delivery.
/// Nodes not named form one more group. `partition 1` isolates node 1.
let partition (w: World) (c: Command) =
    Args.only [] c
    if c.Args.IsEmpty then usage "partition: expected groups such as 1 2,3"

    let groups =
        c.Args
        |> List.mapi (fun i g -> Args.nodes g |> Seq.map (fun id -> id, i + 1))
        |> Seq.concat
        |> Map.ofSeq

    w.Partition <- Some groups
    let rest = w.Slots.Keys |> Seq.map Ids.node |> Seq.filter (fun id -> not (groups.ContainsKey id)) |> List.ofSeq
    let named = c.Args |> List.map (fun g -> Format.nodeSet (Args.nodes g))
    let all = if rest.IsEmpty then named else named @ [ Format.nodeSet rest ]
    print w 0 ("partitioned: " + String.concat " | " all)

/// `heal`: removes the partition.
let heal (w: World) (c: Command) =
    Args.only [] c
    w.Partition <- None
    print w 0 "healed"
